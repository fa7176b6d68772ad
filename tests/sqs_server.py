"""The SQS test endpoint: moto's server mode, started once per session on a free port.

SQS itself cannot be reached from the test machines, so the SQS bus talks to moto through
the same boto3 code path (HTTP, the SQS JSON protocol) a real account uses. moto runs as a
child process, not a thread, so it does not compete with the tests' event loop for the GIL.
Credentials are fake and come from the environment (boto3's usual chain), as in production.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HOST = "127.0.0.1"
#: An endpoint to use instead of starting moto (e.g. LocalStack or ElasticMQ).
ENDPOINT = os.environ.get("OUTRIGGER_TEST_SQS_ENDPOINT", "")
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def moto_available() -> bool:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def running_moto(log: Path) -> Iterator[str]:
    """moto's server on 127.0.0.1:<free port>; yields its endpoint URL."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not _reachable(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start; see {log}")
            time.sleep(0.1)
        yield f"http://{HOST}:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def use_fake_credentials() -> dict[str, str | None]:
    """Put fake credentials in the environment unless some are there; returns what to
    restore."""
    before = {k: os.environ.get(k) for k in FAKE_CREDENTIALS}
    for key, value in FAKE_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    return before


def restore(before: dict[str, str | None]) -> None:
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
