"""Shared test fixtures: real services are used when reachable.

A test that needs a service asks for it through ``require_service``; when the service is not
reachable the test is skipped with the reason, except under ``CI=true`` where it fails: CI
must never turn green by skipping the real-backend tests.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

RABBITMQ_URL = os.environ.get("OUTRIGGER_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
NATS_URL = os.environ.get("OUTRIGGER_TEST_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("OUTRIGGER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "OUTRIGGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI=true, fail) when ``name`` at host:port is not reachable."""
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true requires it (.ci/run starts it)")
    pytest.skip(f"{reason}; start it to run this test")


@pytest.fixture
def rabbitmq_url() -> str:
    require_service("RabbitMQ", "127.0.0.1", 5672)
    return RABBITMQ_URL


@pytest.fixture
def rabbitmqctl(rabbitmq_url: str) -> None:
    """The broker's own CLI, which closes connections and stops the application for the
    RabbitMQ fault tests; a skip without it, a failure under CI=true."""
    import shutil

    if shutil.which("rabbitmqctl") is None:
        reason = "rabbitmqctl is not on the PATH (it closes connections, stops the broker)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}, and CI=true requires the RabbitMQ fault tests")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def _tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The Kafka test broker, started for the session when nothing listens on 9092 (on a
    fresh machine .ci/services.sh runs before the virtualenv that ships it exists)."""
    from tests.kafka_broker import running_tansu

    with running_tansu(log=tmp_path_factory.mktemp("tansu") / "tansu.log"):
        yield


@pytest.fixture
def kafka_bootstrap(_tansu: None) -> str:
    from tests.kafka_broker import BOOTSTRAP

    host, _, port = BOOTSTRAP.rpartition(":")
    require_service("Kafka (tansu)", host, int(port))
    return BOOTSTRAP


@pytest.fixture
def nats_url() -> str:
    require_service("NATS", "127.0.0.1", 4222)
    return NATS_URL


@pytest.fixture(scope="session")
def sqs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An SQS endpoint for the session: moto's server mode (SQS itself is out of reach), or
    OUTRIGGER_TEST_SQS_ENDPOINT. Fake credentials come from the environment, boto3's chain."""
    from tests import sqs_server

    before = sqs_server.use_fake_credentials()
    try:
        if sqs_server.ENDPOINT:
            yield sqs_server.ENDPOINT
            return
        if not sqs_server.moto_available():
            reason = "moto[server] is not installed (the dev extra has it)"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{reason}, and CI=true requires the SQS tests")
            pytest.skip(reason)
        with sqs_server.running_moto(tmp_path_factory.mktemp("moto") / "moto.log") as url:
            yield url
    finally:
        sqs_server.restore(before)


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "outrigger-data"
    path.mkdir()
    yield path


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema (dropped afterwards)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each SQL backend in turn: a SQLite file, then a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


#: FastAPI's caches of how each endpoint and dependency is called (fastapi/dependencies/
#: models.py, up to 4,096 callables each). A process serves one app, so they are small in
#: production; the suite builds hundreds of apps, and every cached endpoint closes over its
#: app's proxy with its ONNX sessions (~150 MB each): kept, they ran CI out of memory.
_FASTAPI_CALL_CACHES = (
    "_is_gen_callable_cached",
    "_is_async_gen_callable_cached",
    "_is_coroutine_callable_cached",
)


@pytest.fixture(autouse=True)
def _forget_fastapi_endpoints() -> Iterator[None]:
    yield
    models = sys.modules.get("fastapi.dependencies.models")
    for name in _FASTAPI_CALL_CACHES:
        cache = getattr(models, name, None)
        if cache is not None:
            cache.cache_clear()
