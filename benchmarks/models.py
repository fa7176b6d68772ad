"""Model serving figures: ONNX vs scikit-learn latency, micro-batching, rollback time.

* ``onnx_us_batch1`` / ``sklearn_us_batch1``: median latency of scoring one application with
  the bundled credit-risk model in ONNX Runtime, and with the same scikit-learn pipeline
  (retrained in-process by ``scripts/train_credit_risk.py``'s code) — both in this process.
* ``onnx_us_per_row_batch64``: per-row cost when 64 rows go in one call.
* ``batched_events_per_s`` / ``unbatched_events_per_s``: the worker's end-to-end rate on the
  in-memory bus (envelope, mapping, scoring, schema, result) with micro-batching at 64 and at 1.
* ``rollback_ms``: from ``outrigger models rollback``'s registry write to the first result event
  scored by the previous version, with the watcher polling every ``--poll-ms``.

    python benchmarks/models.py [--events 3000] [--poll-ms 100] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from outrigger.bus.base import Subscription
from outrigger.config.load import default_pipelines_file
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.inference.onnx import OnnxModel
from outrigger.registry.gate import promote
from outrigger.registry.serving import open_registry
from outrigger.resources import bundled_root
from outrigger.runtime import build_runtime

MODEL_DIR = bundled_root() / "models" / "credit-risk" / "1.0.0"
SCRIPT = Path(__file__).parents[1] / "scripts" / "train_credit_risk.py"


def _median_us(fn: Any, repeat: int) -> float:
    for _ in range(50):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(samples)


def latency(repeat: int) -> dict[str, float]:
    spec = importlib.util.spec_from_file_location("train_credit_risk", SCRIPT)
    assert spec and spec.loader
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    df = train.load()
    y = (df.pop("status") == "bad").astype(int).to_numpy()
    pipe = train.build().fit(df, y)
    model = OnnxModel.load(MODEL_DIR)
    one_df = df.iloc[[0]]
    feeds = train.feeds(one_df)
    row = {k: (v[0][0].item() if hasattr(v[0][0], "item") else v[0][0]) for k, v in feeds.items()}
    rows64 = [row] * 64
    return {
        "onnx_us_batch1": round(_median_us(lambda: model.predict([row]), repeat), 1),
        "sklearn_us_batch1": round(_median_us(lambda: pipe.predict_proba(one_df), repeat), 1),
        "onnx_us_per_row_batch64": round(
            _median_us(lambda: model.predict(rows64), repeat // 10) / 64, 2
        ),
    }


def _settings(
    tmp: Path, batch: int, pipelines: Path | None = None, poll_s: float = 5.0
) -> Settings:
    return Settings(
        data_dir=tmp,
        pipelines_file=pipelines,
        bus={"kind": "memory"},  # type: ignore[arg-type]
        worker={"batch_max_size": batch, "prefetch": 128},  # type: ignore[arg-type]
        registry={"poll_s": poll_s},
        storage={"url": "memory://"},
    )  # type: ignore[arg-type]


async def throughput(events: int, batch: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(Path(tmp), batch)
        runtime = await build_runtime(settings)
        await runtime.bus.declare(Subscription("results", settings.bus.exchange, ("ai.#",)))
        service = LoanService(holdout_rows(), random.Random(1))
        for _ in range(events):
            await runtime.bus.publish(service.cloudevent()[1], exchange=settings.bus.exchange)
        worker, stop = runtime.worker(), asyncio.Event()
        start = time.perf_counter()
        task = asyncio.create_task(worker.run(stop))
        while worker.stats.results < events:  # noqa: ASYNC110 - polling a counter
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
        stop.set()
        await task
        await runtime.close()
    return events / elapsed


async def rollback_ms(poll_s: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        doc = yaml.safe_load(default_pipelines_file().read_text())
        doc["models"]["credit-risk"] = {"registry": "credit-risk", "ref": "stable"}
        pipelines = Path(tmp) / "pipelines.yaml"
        pipelines.write_text(yaml.safe_dump(doc))
        settings = _settings(Path(tmp), 64, pipelines, poll_s)
        registry = open_registry(settings)
        for version in ("1.0.0", "1.1.0"):
            registry.publish(MODEL_DIR, "credit-risk", version)
            promote(registry, "credit-risk", version, "stable")
        runtime = await build_runtime(settings)
        assert runtime.watcher is not None
        results = Subscription("results", settings.bus.exchange, ("ai.#",))
        await runtime.bus.declare(results)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(runtime.worker().run(stop)),
            asyncio.create_task(runtime.watcher.run(stop)),
        ]
        service = LoanService(holdout_rows(), random.Random(2))
        stream = runtime.bus.consume(results, prefetch=1000)
        flipped = time.perf_counter()
        registry.rollback("credit-risk", "stable")
        while True:
            await runtime.bus.publish(service.cloudevent()[1], exchange=settings.bus.exchange)
            delivery = await anext(stream)
            await delivery.ack()
            if json.loads(delivery.message.body)["data"]["models"][0]["version"] == "1.0.0":
                elapsed = (time.perf_counter() - flipped) * 1000
                break
        stop.set()
        await asyncio.gather(*tasks)
        await runtime.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--poll-ms", type=float, default=100.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    figures: dict[str, Any] = latency(args.repeat)
    print(
        f"scoring one event: ONNX {figures['onnx_us_batch1']} µs, scikit-learn "
        f"{figures['sklearn_us_batch1']} µs; ONNX batch of 64: "
        f"{figures['onnx_us_per_row_batch64']} µs per row",
        flush=True,
    )
    figures["batched_events_per_s"] = round(asyncio.run(throughput(args.events, 64)), 1)
    figures["unbatched_events_per_s"] = round(asyncio.run(throughput(args.events, 1)), 1)
    print(
        f"worker on the memory bus: {figures['batched_events_per_s']} events/s batched (64), "
        f"{figures['unbatched_events_per_s']} unbatched",
        flush=True,
    )
    figures["poll_ms"] = args.poll_ms
    figures["rollback_ms"] = round(asyncio.run(rollback_ms(args.poll_ms / 1000)), 1)
    print(
        f"rollback: {figures['rollback_ms']} ms from alias flip to the first event scored by "
        f"the previous version (watcher polls every {args.poll_ms} ms)",
        flush=True,
    )
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
