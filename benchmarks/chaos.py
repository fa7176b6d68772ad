"""Faults against the machine's real services, with a bounded load running through each.

    python benchmarks/chaos.py [--json] [--only FAULT,...] [--events N] [--backlog N]
        [--soak-s S] [--down-s S]

Faults (names for ``--only``):

* ``rabbitmq-close``: the worker's RabbitMQ connection closed by the broker twice
  mid-stream (``rabbitmqctl close_connection``, only the connections whose
  ``connection_name`` is the worker's);
* ``rabbitmq-restart``: the RabbitMQ application stopped and started mid-stream
  (``rabbitmqctl stop_app`` / ``start_app``). THIS DISCONNECTS EVERY CLIENT OF THE BROKER
  for the outage (other tests, other engineers' runs); the broker is always started again;
* ``postgres-terminate``: ``pg_terminate_backend`` on the backends of this run's worker and
  gateway (picked by ``application_name``), three times, under events and calls;
* ``postgres-unreachable``: PostgreSQL cut off for ``--down-s`` through a TCP proxy;
* ``redis-unreachable``: the gateway's shared limiter's Redis cut off through a TCP proxy;
* ``provider-5xx``, ``provider-hang``, ``provider-slow``, ``provider-429``: the primary
  provider stand-in misbehaving under concurrent calls, a second tenant on another provider
  measured beside;
* ``backlog``: ``--backlog`` events (100,000) queued before the worker starts;
* ``soak``: ``outrigger run`` hosting the gateway under mixed load for ``--soak-s`` (600).

Every row: ``events`` sent (events, plus calls where the fault has callers), ``results``
(distinct results, plus answered calls found in the ledger and audit trail), ``lost``,
``duplicates`` (events with more than one distinct result id, plus calls audited twice),
``redeliveries`` (the same result id delivered again: allowed, consumers de-duplicate by
id), ``recovery_s`` (the fault's end until work flows again), ``errors_seen_by_callers``, and
the fault's own figures. With ``--json`` the last line is ``{"faults": [row, ...]}``.
Needs RabbitMQ, PostgreSQL and Redis on 127.0.0.1 (``rabbitmqctl`` on the PATH, run as a
user allowed to use it). Nothing here asserts: the tests (tests/integration/test_chaos_*.py)
do, at smaller sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the fault helpers

from tests.chaos import load, postgres, provider, rabbit, redis_limiter
from tests.chaos.model import Row

Fault = Callable[[Path, argparse.Namespace], Awaitable[Row]]

FAULTS: dict[str, Fault] = {
    "rabbitmq-close": lambda d, a: rabbit.connection_closed(d, a.events),
    "rabbitmq-restart": lambda d, a: rabbit.broker_restarted(d, a.events, a.down_s),
    "postgres-terminate": lambda d, a: postgres.terminated(d, a.events),
    "postgres-unreachable": lambda d, a: postgres.unreachable(d, a.events, down_s=a.down_s),
    "redis-unreachable": lambda d, a: redis_limiter.unreachable(d, down_s=a.down_s),
    "provider-5xx": lambda d, a: provider.provider_fault(d, "5xx", fault_s=a.down_s),
    "provider-hang": lambda d, a: provider.provider_fault(d, "hang", fault_s=a.down_s),
    "provider-slow": lambda d, a: provider.provider_fault(d, "slow", fault_s=a.down_s),
    "provider-429": lambda d, a: provider.provider_fault(d, "429", fault_s=a.down_s),
    "backlog": lambda d, a: load.backlog(d, a.backlog),
    "soak": lambda d, a: load.soak(d, a.soak_s),
}
COLUMNS = (
    "fault", "events", "results", "lost", "duplicates", "redeliveries", "recovery_s",
    "errors_seen_by_callers",
)  # fmt: skip


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(FAULTS)}")
    parser.add_argument("--events", type=int, default=5_000, help="events per event fault")
    parser.add_argument("--backlog", type=int, default=100_000, help="events queued up front")
    parser.add_argument("--soak-s", type=float, default=600.0, help="soak duration")
    parser.add_argument("--down-s", type=float, default=5.0, help="outage length")
    args = parser.parse_args()
    chosen = [f for f in args.only.split(",") if f] or list(FAULTS)
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    args.chosen = chosen
    return args


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in COLUMNS) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="outrigger-chaos-") as tmp:
        for name in args.chosen:
            began = time.monotonic()
            print(f"# {name} ...", file=sys.stderr, flush=True)
            try:
                row = (await FAULTS[name](Path(tmp) / name, args)).as_dict()
            except Exception as exc:  # one broken fault does not hide the others' figures
                row = {"fault": name, "failed": f"{type(exc).__name__}: {exc}"}
            row["took_s"] = round(time.monotonic() - began, 1)
            rows.append(row)
            extra = {k: v for k, v in row.items() if k not in COLUMNS}
            print(f"# {name}: {json.dumps(row_summary(row))} {json.dumps(extra)}", flush=True)
    return rows


def row_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {c: row.get(c) for c in COLUMNS if c in row}


def main() -> None:
    args = parse()
    # The clients log every reconnect and every failed write at WARNING/ERROR: the faults
    # make plenty; the figures say what happened.
    logging.basicConfig(level=logging.CRITICAL)
    rows = asyncio.run(run(args))
    print(table(rows))
    if args.json:
        print(json.dumps({"faults": rows}))


if __name__ == "__main__":
    main()
