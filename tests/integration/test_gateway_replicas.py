"""Gateways as real processes (``outrigger gateway``): limits shared through the machine's
Redis across replicas, and the ledger and audit trail flushed on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from outrigger.storage.audit import AuditStore
from outrigger.storage.factory import open_database
from outrigger.storage.ledger import LedgerStore
from outrigger.storage.tenants import Tenant, TenantStore
from tests.upstream import UpstreamThread


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, upstream: UpstreamThread, **extra: Any) -> Path:
    config = {
        "llm": {
            "providers": {"up": {"kind": "openai", "base_url": upstream.url}},
            "deployments": {"up": {"provider": "up", "model": "m"}},
            "aliases": {"chat-default": ["up"]},
        },
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path


class GatewayProcess:
    """``outrigger gateway``, or with ``with_worker`` ``outrigger run`` serving the gateway
    beside the worker (``gateway.enabled``)."""

    def __init__(self, data_dir: Path, config: Path, *, with_worker: bool = False) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "OUTRIGGER_CONFIG_FILE": str(config),
            "OUTRIGGER_DATA_DIR": str(data_dir),
        }
        command = ["gateway", "--port", str(self.port)]
        if with_worker:
            command = ["run"]
            env |= {
                "OUTRIGGER_GATEWAY__ENABLED": "true",
                "OUTRIGGER_GATEWAY__PORT": str(self.port),
                "OUTRIGGER_TELEMETRY__METRICS_PORT": "0",
            }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "outrigger", *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> GatewayProcess:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stdout.read().decode() if self.proc.stdout else "")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gateway did not become ready")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete.
        return 0 if code == -signal.SIGTERM else code


def make_key(data_dir: Path, tenant: str, tier: str) -> str:
    db = open_database(f"sqlite:///{data_dir / 'outrigger.sqlite3'}")
    store = TenantStore(db)
    store.create_tenant(Tenant(tenant, tenant, tier))
    key, _ = store.create_key(tenant)
    db.dispose()
    return key


def chat(url: str, key: str) -> int:
    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "chat-default", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    return response.status_code


@pytest.mark.redis
@pytest.mark.slow
def test_two_replicas_sharing_redis_hold_one_limit(
    data_dir: Path, upstream: UpstreamThread, redis_url: str, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "config.yaml",
        upstream,
        tenancy={"redis_url": redis_url, "tiers": {"hundred": {"rpm": 100}}},
    )
    tenant = f"t{uuid.uuid4().hex[:8]}"  # fresh counters in the shared Redis
    key = make_key(data_dir, tenant, "hundred")
    gateways = [GatewayProcess(data_dir, config), GatewayProcess(data_dir, config)]
    try:
        for gw in gateways:
            gw.wait_ready()
        urls = [gateways[i % 2].url for i in range(260)]
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda u: chat(u, key), urls))
    finally:
        exits = [gw.stop() for gw in gateways]
    assert exits == [0, 0]
    assert codes.count(429) + codes.count(200) == len(codes)
    assert 98 <= codes.count(200) <= 102, codes.count(200)
    assert upstream.behaviour.requests == codes.count(200)


@pytest.mark.slow
def test_sigterm_flushes_every_ledger_and_audit_record(
    data_dir: Path, upstream: UpstreamThread, tmp_path: Path
) -> None:
    # A flush interval far longer than the test: only the shutdown flush can write them.
    config = write_config(tmp_path / "config.yaml", upstream, gateway={"flush_interval_s": 600})
    key = make_key(data_dir, "acme", "enterprise")
    gw = GatewayProcess(data_dir, config).wait_ready()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: chat(gw.url, key), range(40)))
    assert codes == [200] * 40
    assert gw.stop() == 0
    db = open_database(f"sqlite:///{data_dir / 'outrigger.sqlite3'}")
    try:
        assert LedgerStore(db).count_calls("acme", time.strftime("%Y-%m", time.gmtime())) == 40
        assert AuditStore(db).verify() == (40, None)
    finally:
        db.dispose()


@pytest.mark.slow
def test_outrigger_run_serves_the_gateway_beside_the_worker(
    data_dir: Path, upstream: UpstreamThread, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.yaml", upstream)
    key = make_key(data_dir, "acme", "enterprise")
    run = GatewayProcess(data_dir, config, with_worker=True).wait_ready()
    codes = [chat(run.url, key) for _ in range(5)]
    assert codes == [200] * 5
    assert run.stop() == 0  # the worker drains, the gateway stops, the ledger is flushed
    output = run.proc.stdout.read().decode() if run.proc.stdout else ""
    assert "worker consuming" in output and "gateway on http://" in output
    db = open_database(f"sqlite:///{data_dir / 'outrigger.sqlite3'}")
    try:
        assert LedgerStore(db).count_calls("acme", time.strftime("%Y-%m", time.gmtime())) == 5
    finally:
        db.dispose()


@pytest.mark.redis
@pytest.mark.slow
def test_two_replicas_hold_a_deployments_provider_quota_through_redis(
    data_dir: Path, upstream: UpstreamThread, redis_url: str, tmp_path: Path
) -> None:
    # One alias over a deployment with a provider quota of 30 requests a minute and an
    # unlimited one; both replicas send to the first while it has room, then spill over.
    spill = UpstreamThread().start()
    quota = f"q{uuid.uuid4().hex[:8]}"  # fresh counters in the shared Redis
    config = tmp_path / "config.yaml"
    llm = {
        "providers": {
            "up": {"kind": "openai", "base_url": upstream.url},
            "spill": {"kind": "openai", "base_url": spill.url},
        },
        "deployments": {
            quota: {"provider": "up", "model": "m", "rpm": 30},
            "spill": {"provider": "spill", "model": "m"},
        },
        "aliases": {"chat-default": [quota, "spill"]},
    }
    config.write_text(yaml.safe_dump({"llm": llm, "tenancy": {"redis_url": redis_url}}))
    key = make_key(data_dir, "acme", "enterprise")
    gateways = [GatewayProcess(data_dir, config), GatewayProcess(data_dir, config)]
    try:
        for gw in gateways:
            gw.wait_ready()
        urls = [gateways[i % 2].url for i in range(100)]
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda u: chat(u, key), urls))
    finally:
        exits = [gw.stop() for gw in gateways]
        spill.stop()
    assert exits == [0, 0]
    assert codes == [200] * 100
    assert upstream.behaviour.requests == 30  # its quota, from both replicas together
    assert spill.behaviour.requests == 70
