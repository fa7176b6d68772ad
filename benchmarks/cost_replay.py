"""Cost replay: a month of LLM traffic through the proxy under four sets of controls.

The workload (benchmarks/cost_workload.py: the mix and why) stands for 500,000 calls a
month; ``--calls`` of them are replayed (default 2,000, so every replayed call stands for
250) through the real proxy (``build_proxy``: guard, privacy, cache, routing, dispatch,
ledger) against the OpenAI-compatible test upstream (tests/upstream.py, which echoes the
last user message and reports word counts as token usage). The bill is what the proxy's
own ledger says, priced by the deployments' price table, times the scale factor:

1. ``none``: every call to the strong model, no cache;
2. ``cache``: the exact + verified semantic cache (all-MiniLM-L6-v2, default threshold);
3. ``cache+routing``: plus routing rules: ticket triage and simple requests to the cheap
   model, requests scoring ``--complexity`` or more (the router's keyword score) stay on
   the strong one;
4. ``cache+routing+onnx``: plus ticket triage by the bundled ticket-intent ONNX model (a
   pipeline ``score`` step in production); tickets it is unsure of (top probability below
   ``--onnx-threshold``) still go to the LLM.

Cache hits are checked: the echoing upstream makes every answer name the request it was
made for, so a hit that serves another request family's answer counts as a wrong hit.

    python benchmarks/cost_replay.py [--calls 2000] [--month 500000] [--repeat 0.30]
        [--paraphrase 0.15] [--classification 0.40] [--complex 0.35] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.upstream import UpstreamThread

from cost_workload import Mix, Request, describe, workload
from outrigger.config.settings import Settings
from outrigger.inference.onnx import OnnxModel
from outrigger.llm.types import ChatRequest, completion_text
from outrigger.proxy.context import CallContext, Completion
from outrigger.proxy.service import LlmProxy, build_proxy
from outrigger.resources import bundled_root
from outrigger.storage.tenants import Tenant

CONFIGS = ("none", "cache", "cache+routing", "cache+routing+onnx")
#: USD per million tokens: OpenAI's list prices for gpt-4o and gpt-4o-mini (2024-25), as
#: the strong and the cheap model of the price table.
PRICES = {"strong": ("gpt-4o", 2.50, 10.00), "cheap": ("gpt-4o-mini", 0.15, 0.60)}
CLAIM_BEFORE, CLAIM_AFTER = 3200.0, 800.0
TENANT = "bank"
ALIAS = "assistant"
TICKET_MODEL = bundled_root() / "models" / "ticket-intent" / "1.0.0"


@dataclass
class Outcome:
    config: str
    replay_usd: float = 0.0  # from the ledger
    upstream_calls: int = 0
    hits: Counter[str] = field(default_factory=Counter)  # by request origin
    wrong_hits: int = 0
    wrong: list[tuple[str, str]] = field(default_factory=list)  # (asked, answer served)
    routed: Counter[str] = field(default_factory=Counter)  # "<level> -> <deployment>"
    offloaded: int = 0
    offload_correct: int = 0
    onnx_ms: float = 0.0
    seconds: float = 0.0
    tokens: Counter[str] = field(default_factory=Counter)  # "<deployment> in|out"


def settings_for(
    config: str, data_dir: Path, upstream: str, complexity: float, candidates: int | None = None
) -> Settings:
    deployments = {
        name: {"provider": "up", "model": model, "input_price": inp, "output_price": out}
        for name, (model, inp, out) in PRICES.items()
    }
    routes: list[dict[str, Any]] = []
    if "routing" in config:
        routes = [
            {"alias": ALIAS, "feature": "ticket-triage", "use": f"{ALIAS}-cheap"},
            {"alias": ALIAS, "min_complexity": complexity, "use": ALIAS},
            {"alias": ALIAS, "use": f"{ALIAS}-cheap"},
        ]
    return Settings.model_validate(
        {
            "data_dir": data_dir,
            "llm": {
                "providers": {"up": {"kind": "openai", "base_url": upstream, "timeout_s": 30}},
                "deployments": deployments,
                "aliases": {ALIAS: ["strong"], f"{ALIAS}-cheap": ["cheap"]},
                "routes": routes,
            },
            "tenancy": {"auth_cache_s": 0},
            "cache": {
                "enabled": "cache" in config,
                "ttl_s": 7 * 86_400,
                **({"candidates": candidates} if candidates else {}),
            },
            "embeddings": {"serve": "cache" in config},
        }
    )


class Replay:
    def __init__(self, config: str, proxy: LlmProxy, families: dict[str, int]) -> None:
        self.config = config
        self.proxy = proxy
        self.families = families  # text -> the request family it belongs to
        self.tenant = Tenant(TENANT, "Bank", "enterprise")
        self.onnx = OnnxModel.load(TICKET_MODEL) if "onnx" in config else None
        self.outcome = Outcome(config)

    async def run(self, requests: list[Request], onnx_threshold: float) -> Outcome:
        started = time.perf_counter()
        for request in requests:
            offload = self.onnx is not None and request.kind == "classification"
            if offload and self._classify(request, onnx_threshold):
                continue
            await self._call(request)
        await self.proxy.flush()
        lines = await self.proxy.db.run(self.proxy.ledger.usage, TENANT, _month())
        self.outcome.replay_usd = sum(line.cost_usd for line in lines)
        self.outcome.seconds = time.perf_counter() - started
        return self.outcome

    def _classify(self, request: Request, threshold: float) -> bool:
        """True when the ONNX model answered (confident enough); no LLM call then."""
        assert self.onnx is not None
        started = time.perf_counter()
        out = self.onnx.predict([{"text": request.text.lower()}])
        self.outcome.onnx_ms += (time.perf_counter() - started) * 1000
        confidence = float(np.max(out["probabilities"][0]))
        if confidence < threshold:
            return False
        self.outcome.offloaded += 1
        self.outcome.offload_correct += str(out["label"][0]) == request.intent
        return True

    async def _call(self, request: Request) -> None:
        params = {"temperature": 0.0, "max_tokens": 60 if request.kind == "classification" else 400}
        messages = [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.text},
        ]
        ctx = CallContext(self.tenant, request.feature, ChatRequest(ALIAS, messages, params))
        reply = await self.proxy.call(ctx)
        assert isinstance(reply, Completion)
        o = self.outcome
        if ctx.cache == "hit":
            o.hits[request.origin] += 1
            served = completion_text(reply.body).removeprefix("echo: ")
            if self.families.get(served) != request.family:
                o.wrong_hits += 1
                o.wrong.append((request.text, served))
            return
        o.upstream_calls += 1
        o.routed[f"{request.kind}/{request.level} -> {ctx.deployment}"] += 1
        if ctx.usage is not None:
            o.tokens[f"{ctx.deployment} in"] += ctx.usage.prompt_tokens
            o.tokens[f"{ctx.deployment} out"] += ctx.usage.completion_tokens


def _month() -> str:
    return time.strftime("%Y-%m", time.gmtime())


async def replay_one(
    config: str, requests: list[Request], upstream: UpstreamThread, args: argparse.Namespace
) -> Outcome:
    families = {r.text: r.family for r in requests}
    with tempfile.TemporaryDirectory(prefix="cost-replay-") as tmp:
        settings = settings_for(config, Path(tmp), upstream.url, args.complexity, args.candidates)
        proxy = await asyncio.to_thread(build_proxy, settings)
        proxy.start()
        try:
            proxy.tenants.create_tenant(Tenant(TENANT, "Bank", "enterprise"))
            before = upstream.behaviour.requests
            outcome = await Replay(config, proxy, families).run(requests, args.onnx_threshold)
            assert upstream.behaviour.requests - before == outcome.upstream_calls
            return outcome
        finally:
            await proxy.close()


def summary(outcomes: list[Outcome], requests: list[Request], scale: float) -> dict[str, Any]:
    by = {o.config: o for o in outcomes}
    origins = Counter(r.origin for r in requests)
    baseline = by["none"].replay_usd * scale
    full = by[CONFIGS[-1]].replay_usd * scale
    cache = by["cache"]
    tickets = sum(r.kind == "classification" for r in requests)
    onnx = by[CONFIGS[-1]]
    return {
        "calls": len(requests),
        "scale": scale,
        "baseline_usd": round(baseline, 2),
        "cache_usd": round(by["cache"].replay_usd * scale, 2),
        "routing_usd": round(by["cache+routing"].replay_usd * scale, 2),
        "full_usd": round(full, 2),
        "reduction": round(1 - full / baseline, 4) if baseline else 0.0,
        "cache_hit_rate": round(sum(cache.hits.values()) / len(requests), 4),
        "repeat_hit_rate": round(cache.hits["repeat"] / max(1, origins["repeat"]), 4),
        "paraphrase_hit_rate": round(cache.hits["paraphrase"] / max(1, origins["paraphrase"]), 4),
        "novel_hit_rate": round(cache.hits["novel"] / max(1, origins["novel"]), 4),
        "wrong_hits": cache.wrong_hits,  # in the cache run (the same in the later ones)
        # wrong hits as a share of all hits (the name; ``wrong_hit_share`` is kept)
        "wrong_hit_rate": round(cache.wrong_hits / max(1, sum(cache.hits.values())), 4),
        "wrong_hit_share": round(cache.wrong_hits / max(1, sum(cache.hits.values())), 4),
        # routing errors in the cache+routing run (calls that reached a model): a quality
        # risk the bill does not price, and money left on the table
        "complex_to_cheap": _routed(by["cache+routing"], "generative/complex", "cheap"),
        "simple_to_strong": _routed(by["cache+routing"], "generative/simple", "strong"),
        "onnx_offload_rate": round(onnx.offloaded / max(1, tickets), 4),
        "onnx_accuracy": round(onnx.offload_correct / max(1, onnx.offloaded), 4),
        "claim_reduction": round(1 - CLAIM_AFTER / CLAIM_BEFORE, 4),
    }


def _routed(outcome: Outcome, request: str, deployment: str) -> int:
    return outcome.routed[f"{request} -> {deployment}"]


def report(outcomes: list[Outcome], requests: list[Request], scale: float) -> dict[str, Any]:
    figures = summary(outcomes, requests, scale)
    baseline = figures["baseline_usd"]
    mix = ", ".join(f"{k} {v}" for k, v in describe(requests).items())
    print(f"Workload: {len(requests):,} calls replayed, each standing for {scale:g} ({mix})")
    print(
        f"Prices per 1M tokens: {', '.join(f'{n} {m} {i}/{o}' for n, (m, i, o) in PRICES.items())}"
    )
    print()
    print(f"{'controls':<20} {'USD/month':>10} {'saved':>7} {'LLM calls/month':>16} "
          f"{'cache hits':>10} {'wrong':>6} {'time s':>7}")  # fmt: skip
    for o in outcomes:
        usd = o.replay_usd * scale
        hits = sum(o.hits.values())
        print(f"{o.config:<20} {usd:>10,.2f} {1 - usd / baseline:>7.1%} "
              f"{o.upstream_calls * scale:>16,.0f} {hits / len(requests):>10.1%} "
              f"{o.wrong_hits:>6} {o.seconds:>7.1f}")  # fmt: skip
    print()
    _explain(outcomes, requests, figures)
    return figures


def _explain(outcomes: list[Outcome], requests: list[Request], figures: dict[str, Any]) -> None:
    by = {o.config: o for o in outcomes}
    origins = Counter(r.origin for r in requests)
    cache = by["cache"]
    print("cache hits by origin: " + ", ".join(
        f"{k} {cache.hits[k]}/{origins[k]}" for k in ("repeat", "paraphrase", "novel")
    ))  # fmt: skip
    for asked, served in cache.wrong[:3]:  # another request's answer, served from the cache
        print(f"  wrong hit: asked  {asked[:90]!r}\n             served {served[:90]!r}")
    routed = by["cache+routing"].routed
    print("cache+routing, calls that reached a model: " + ", ".join(
        f"{k} {v}" for k, v in sorted(routed.items())
    ))  # fmt: skip
    onnx = by[CONFIGS[-1]]
    tickets = sum(r.kind == "classification" for r in requests)
    print(f"ONNX triage: {onnx.offloaded}/{tickets} tickets answered in process "
          f"({figures['onnx_accuracy']:.1%} of them correct, "
          f"{onnx.onnx_ms / max(1, tickets) * 1000:.0f} us a ticket); "
          "the rest went to the LLM")  # fmt: skip
    for o in outcomes:
        shares = ", ".join(f"{k} {v:,}" for k, v in sorted(o.tokens.items()))
        print(f"tokens {o.config}: {shares}")
    bills = [o.replay_usd * figures["scale"] for o in outcomes]
    saved = [before - after for before, after in itertools.pairwise(bills)]
    print("saved by each control, USD a month (share of the baseline): " + ", ".join(
        f"{c.split('+')[-1]} {s:,.2f} ({s / bills[0]:.1%})"
        for c, s in zip(CONFIGS[1:], saved, strict=True)
    ))  # fmt: skip
    base, n = by["none"].tokens, len(requests)
    print(f"baseline per call: {bills[0] / n / figures['scale']:.5f} USD "
          f"({base['strong in'] / n:.0f} prompt + {base['strong out'] / n:.0f} completion tokens);"
          f" the claim's: {CLAIM_BEFORE / 500_000:.5f} USD")  # fmt: skip
    print()
    print(f"Claim: {CLAIM_BEFORE:,.0f} -> {CLAIM_AFTER:,.0f} USD a month "
          f"({figures['claim_reduction']:.0%} saved). Here: {figures['baseline_usd']:,.2f} -> "
          f"{figures['full_usd']:,.2f} USD ({figures['reduction']:.1%} saved).")  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls replayed")
    parser.add_argument("--month", type=int, default=500_000, help="calls they stand for")
    parser.add_argument("--classification", type=float, default=0.40)
    parser.add_argument("--complex", type=float, default=0.35)
    parser.add_argument("--repeat", type=float, default=0.30)
    parser.add_argument("--paraphrase", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--complexity", type=float, default=0.125, help="routing threshold")
    parser.add_argument("--onnx-threshold", type=float, default=0.30)
    parser.add_argument(
        "--candidates", type=int, default=None, help="cache neighbours verified per look-up"
    )
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    mix = Mix(args.calls, args.classification, args.complex, args.repeat, args.paraphrase,
              args.seed)  # fmt: skip
    requests = workload(mix)
    upstream = UpstreamThread().start()
    try:
        outcomes = [await replay_one(c, requests, upstream, args) for c in CONFIGS]
    finally:
        upstream.stop()
    return report(outcomes, requests, args.month / args.calls)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    figures = asyncio.run(amain(args))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
