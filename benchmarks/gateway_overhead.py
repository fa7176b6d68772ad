"""What the gateway adds to an LLM call: latency and throughput, direct vs through Outrigger.

Three processes: the OpenAI-compatible upstream of the tests (``tests/upstream.py``, aiohttp),
``python -m outrigger gateway`` in front of it with authentication, limits (a tier with RPM,
TPM and a monthly quota, checked on every call), the ledger and the audit chain on (SQLite),
and this process as the load generator: a lean aiohttp client (one connection per client,
keep-alive), so the generator does not eat the CPU the gateway needs.

* sequential: ``--requests`` calls one after another -> p50/p99 latency, direct and through;
* concurrent: ``--clients`` clients for ``--seconds`` -> requests/s, direct and through.

Every call asks a new question (a new text to screen and pseudonymise); with ``--turns N``
calls come from N-turn conversations, each re-sending its earlier turns, as chat clients do.

``--peer URL KEY MODEL`` measures another proxy (e.g. LiteLLM) pointed at the same upstream in
the same run (see benchmarks/README.md). Nothing is asserted; figures are printed.

The alias has ``--deployments`` deployments (3 by default, all on the one upstream) spread by
``--balancing`` (least_inflight by default), so load balancing is on the measured path.

    python benchmarks/gateway_overhead.py [--requests 2000] [--clients 10] [--seconds 10]
        [--turns 1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.proc import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
#: Each call asks something new (a question and a reference number), as real traffic does:
#: the gateway keeps screening verdicts and PII spans for texts it has seen (a conversation
#: re-sent with each call), and one text sent over and over would measure only that memo.
QUESTIONS = (
    "What is the status of my card replacement?",
    "Can you explain the fee on my last statement?",
    "How do I raise the daily limit on my debit card?",
    "Why was my transfer to another bank held?",
    "When will the refund for my cancelled order arrive?",
    "Please summarise the terms of my savings account.",
)


def body(model: str, n: int, turns: int = 1) -> dict[str, Any]:
    """Call ``n``: turn ``n % turns`` of conversation ``n // turns``, its earlier turns
    re-sent before the new question (``--turns``; 1: a single question per call)."""
    conversation, turn = divmod(n, turns)
    messages: list[dict[str, str]] = []
    for t in range(turn + 1):
        question = QUESTIONS[(conversation + t) % len(QUESTIONS)]
        messages.append(
            {"role": "user", "content": f"{question} My reference is {100_000 + n - turn + t}."}
        )
        if t < turn:
            messages.append({"role": "assistant", "content": "Let me check that for you."})
    return {"model": model, "messages": messages, "max_tokens": 64}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_upstream(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "upstream.py"), "--port", str(port)]
    )
    wait_http(f"http://127.0.0.1:{port}/_stats")
    return proc


def make_key(data_dir: Path) -> str:
    from outrigger.storage.factory import open_database
    from outrigger.storage.tenants import Tenant, TenantStore

    db = open_database(f"sqlite:///{data_dir / 'outrigger.sqlite3'}")
    store = TenantStore(db)
    store.create_tenant(Tenant("bench", "Bench", "bench"))
    key, _ = store.create_key("bench", "benchmark")
    db.dispose()
    return key


def start_gateway(
    data_dir: Path, upstream: str, port: int, args: argparse.Namespace
) -> subprocess.Popen[bytes]:
    names = [f"up{i}" for i in range(args.deployments)]
    config: dict[str, Any] = {
        "llm": {
            "providers": {"up": {"kind": "openai", "base_url": upstream}},
            "deployments": {
                n: {"provider": "up", "model": "m", "input_price": 0.15, "output_price": 0.6}
                for n in names
            },
            "aliases": {"chat-default": names},
            "balancing": {"chat-default": args.balancing},
        },
        # Limits are checked on every call, set high enough never to refuse one.
        "tenancy": {"tiers": {"bench": {"rpm": 10**8, "tpm": 10**10, "monthly_calls": 10**9}}},
    }
    if args.no_guardrails:  # auth, limits, ledger and audit only
        config["privacy"] = {"default": {"enabled": False}}
        config["guard"] = {"injection": {"enabled": False}}
    path = data_dir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OUTRIGGER_CONFIG_FILE": str(path), "OUTRIGGER_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "outrigger", "gateway", "--port", str(port)], env=env
    )
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return proc


async def one(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], payload: dict[str, Any]
) -> float:
    started = time.perf_counter()
    async with session.post(url, json=payload, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return (time.perf_counter() - started) * 1000


async def sequential(
    url: str,
    headers: dict[str, str],
    make: Callable[[int], dict[str, Any]],
    n: int,
    server: int | None = None,
) -> tuple[list[float], float | None]:
    """Latencies of ``n`` calls after a warm-up, and the CPU ms per call of the process
    ``server`` (None when not given or not readable)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for i in range(min(200, n)):  # warm-up, with calls of its own
            await one(session, url, headers, make(10_000_000 + i))
        before = cpu_seconds(server) if server is not None else None
        latencies = [await one(session, url, headers, make(i)) for i in range(n)]
        after = cpu_seconds(server) if server is not None else None
    if before is None or after is None:
        return latencies, None
    return latencies, 1000 * (after - before) / n


async def concurrent(
    url: str,
    headers: dict[str, str],
    make: Callable[[int], dict[str, Any]],
    clients: int,
    seconds: float,
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            while time.perf_counter() < deadline:
                done += 1
                await one(session, url, headers, make(20_000_000 + done))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - started)


def pct(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)


async def measure(target: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    def make(n: int) -> dict[str, Any]:
        return body(target["model"], n, args.turns)

    lat, cpu = await sequential(
        target["url"], target["headers"], make, args.requests, target.get("pid")
    )
    rps = await concurrent(target["url"], target["headers"], make, args.clients, args.seconds)
    figures = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "rps": round(rps, 1)}
    if cpu is not None:
        figures["cpu_ms"] = round(cpu, 3)
    return figures


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> dict[str, Any]:
    direct, ours = results["direct"], results["outrigger"]
    out: dict[str, Any] = {
        "direct_p50_ms": direct["p50_ms"],
        "direct_p99_ms": direct["p99_ms"],
        "outrigger_p50_ms": ours["p50_ms"],
        "outrigger_p99_ms": ours["p99_ms"],
        "added_p50_ms": round(ours["p50_ms"] - direct["p50_ms"], 3),
        "added_p99_ms": round(ours["p99_ms"] - direct["p99_ms"], 3),
        "direct_rps": direct["rps"],
        "outrigger_rps": ours["rps"],
        "throughput_ratio": round(ours["rps"] / direct["rps"], 3),
        "guardrails": not args.no_guardrails,
        "deployments": args.deployments,
        "balancing": args.balancing,
        "requests": args.requests,
        "turns": args.turns,
        "clients": args.clients,
        "cpus": os.cpu_count(),
    }
    for name, key in (
        ("outrigger", "gateway_cpu_ms_per_call"),
        ("direct", "upstream_cpu_ms_per_call"),
    ):
        if "cpu_ms" in results[name]:
            out[key] = results[name]["cpu_ms"]
    if "peer" in results:
        peer = results["peer"]
        out.update(
            peer_p50_ms=peer["p50_ms"],
            peer_added_p50_ms=round(peer["p50_ms"] - direct["p50_ms"], 3),
            peer_added_p99_ms=round(peer["p99_ms"] - direct["p99_ms"], 3),
            peer_rps=peer["rps"],
            outrigger_vs_peer_rps=round(ours["rps"] / peer["rps"], 2) if peer["rps"] else None,
        )
    return out


def target(base_url: str, key: str | None, model: str, pid: int | None = None) -> dict[str, Any]:
    """Where to send the chat calls: ``base_url`` ends in ``/v1``; ``pid``: the process whose
    CPU time per sequential call is reported."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = f"{base_url.rstrip('/')}/chat/completions"
    return {"url": url, "headers": headers, "model": model, "pid": pid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="sequential calls per target")
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients")
    parser.add_argument(
        "--turns", type=int, default=1,
        help="user turns per conversation: each call re-sends its conversation's earlier turns",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="concurrent phase length")
    parser.add_argument("--peer", nargs=3, metavar=("URL", "KEY", "MODEL"),
                        help="a peer proxy's base URL (…/v1), key and model name")  # fmt: skip
    parser.add_argument(
        "--upstream-port", type=int, default=0, help="fixed upstream port (for a peer)"
    )
    parser.add_argument(
        "--no-guardrails",
        action="store_true",
        help="turn off the default injection screen and PII redaction (auth, limits, ledger "
        "and audit stay on)",
    )
    parser.add_argument(
        "--deployments",
        type=int,
        default=3,
        help="deployments behind the alias (all on the one upstream)",
    )
    parser.add_argument(
        "--balancing",
        default="least_inflight",
        choices=["ordered", "weighted", "least_inflight", "latency"],
        help="the alias's load-balancing strategy",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    args = parser.parse_args()
    up_port = args.upstream_port or free_port()
    gw_port = free_port()
    with tempfile.TemporaryDirectory(prefix="outrigger-bench-") as tmp:
        upstream = start_upstream(up_port)
        gateway = None
        try:
            key = make_key(Path(tmp))
            gateway = start_gateway(Path(tmp), f"http://127.0.0.1:{up_port}/v1", gw_port, args)
            targets = {
                "direct": target(f"http://127.0.0.1:{up_port}/v1", None, "m", upstream.pid),
                "outrigger": target(
                    f"http://127.0.0.1:{gw_port}/v1", key, "chat-default", gateway.pid
                ),
            }
            if args.peer:
                targets["peer"] = target(*args.peer)
            results = {name: asyncio.run(measure(t, args)) for name, t in targets.items()}
        finally:
            for proc in (gateway, upstream):
                if proc is not None:
                    proc.terminate()
                    proc.wait(30)
    summary = report(results, args)
    for name, figures in results.items():
        print(f"{name:10s} p50 {figures['p50_ms']:7.3f} ms  p99 {figures['p99_ms']:7.3f} ms  "
              f"{figures['rps']:8.1f} req/s")  # fmt: skip
    print(f"added by Outrigger: p50 {summary['added_p50_ms']} ms, "
          f"p99 {summary['added_p99_ms']} ms; "
          f"throughput ratio {summary['throughput_ratio']}")  # fmt: skip
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
