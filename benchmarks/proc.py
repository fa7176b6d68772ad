"""What the benchmarks read of a child process from Linux's ``/proc``."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all its threads (Linux ``/proc``; else None).

    On a shared machine a child's rate moves with whatever else runs; the CPU it spends on
    the same work moves far less, so it is the figure to compare when changing a hot path."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
