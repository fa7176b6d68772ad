"""One row of the chaos table, and how results are scored against what was sent."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    fault: str
    events: int  # events (or calls) sent through the fault
    results: int  # distinct results (or calls answered and recorded)
    lost: int  # sent, never resulted (or answered, never recorded)
    duplicates: int  # events with more than one distinct result id
    redeliveries: int  # the same result id delivered again (allowed: de-duplicable)
    recovery_s: float | None  # fault over -> work flowing again (None: not measured)
    errors_seen_by_callers: int  # answers other than success that a caller saw
    extra: dict[str, Any] = field(default_factory=dict)

    def with_calls(self, lost: int, duplicates: int, answered: int) -> Row:
        """Gateway calls counted in: answered calls are sent work, recorded ones results."""
        self.events += answered
        self.results += answered - lost
        self.lost += lost
        self.duplicates += duplicates
        return self

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "extra"}
        return {**out, **self.extra}


@dataclass
class Results:
    """Result events seen downstream: result id -> (source event id, times delivered)."""

    expected: dict[str, str]  # result id -> source event id
    source_of: dict[str, str] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    #: Monotonic time at which each distinct result first arrived, in order.
    firsts: list[float] = field(default_factory=list)

    def add(self, result_id: str, source_id: str) -> None:
        self.source_of[result_id] = source_id
        if result_id not in self.count:
            self.firsts.append(time.monotonic())
        self.count[result_id] = self.count.get(result_id, 0) + 1

    @property
    def distinct(self) -> int:
        return len(self.count)

    def complete(self) -> bool:
        return self.expected.keys() <= self.count.keys()

    def lost(self) -> int:
        sources = set(self.source_of.values())
        return len(set(self.expected.values()) - sources)

    def duplicates(self) -> int:
        """Source events with more than one distinct result id."""
        per_source: dict[str, set[str]] = {}
        for rid, source in self.source_of.items():
            per_source.setdefault(source, set()).add(rid)
        return sum(1 for ids in per_source.values() if len(ids) > 1)

    def redeliveries(self) -> int:
        return sum(n - 1 for n in self.count.values())

    def unexpected(self) -> int:
        return len(self.count.keys() - self.expected.keys())

    def flowing_after(self, moment: float, margin: int = 20) -> float | None:
        """Seconds from ``moment`` until ``margin`` new distinct results arrived after it
        (work flowing again, not just results already on their way); None if never."""
        later = [t for t in self.firsts if t > moment]
        if len(later) < margin:
            return None
        return round(later[margin - 1] - moment, 3)


def row_from(
    fault: str, results: Results, recovery_s: float | None, errors: int, **extra: Any
) -> Row:
    return Row(
        fault,
        len(results.expected),
        results.distinct,
        results.lost(),
        results.duplicates(),
        results.redeliveries(),
        recovery_s,
        errors,
        dict(extra),
    )


def process_figures(pid: int) -> dict[str, float]:
    """RSS (MiB) and open file descriptors of a process (children not included), from
    /proc (Linux); ``ProcessLookupError`` once it has gone."""
    try:
        status = open(f"/proc/{pid}/status", encoding="ascii").read()  # noqa: SIM115
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        raise ProcessLookupError(pid) from None
    kib = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:"))
    return {"rss_mib": round(kib / 1024, 1), "fds": fds}


def distinct_by(records: Mapping[str, int]) -> int:
    return sum(1 for n in records.values() if n > 1)
