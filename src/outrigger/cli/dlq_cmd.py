"""``outrigger dlq list|replay``: inspect and replay the dead-letter queue."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from outrigger.bus.base import DeadLetter
from outrigger.cli.changes import record_change
from outrigger.cli.common import fail, load_settings, out, run
from outrigger.config.settings import Settings
from outrigger.runtime import bus_session, load_pipeline_set, subscription
from outrigger.storage.audit import DEPLOYMENT

app = typer.Typer(help="Inspect and replay dead letters.", no_args_is_help=True)


def _preview(body: bytes, width: int = 60) -> str:
    text = body[:width].decode("utf-8", errors="replace")
    return text + ("…" if len(body) > width else "")


def _as_json(letter: DeadLetter) -> dict[str, object]:
    return {
        "id": letter.id,
        "reason_code": letter.reason_code,
        "reason": letter.reason,
        "attempts": letter.attempts,
        "pipeline": letter.pipeline,
        "source_queue": letter.source_queue,
        "routing_key": letter.message.domain_routing_key,
        "failed_at": letter.failed_at.isoformat(),
        "bytes": len(letter.message.body),
        "body_preview": _preview(letter.message.body, 200),
    }


async def _list(settings: Settings, limit: int) -> list[DeadLetter]:
    async with bus_session(settings) as (_, dlq):
        return await dlq.list(limit)


@app.command("list")
def list_letters(
    limit: int = typer.Option(100, min=1, help="How many, oldest first."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List dead letters with their reasons, without removing them."""
    letters = run(_list(load_settings(), limit))
    if as_json:
        for letter in letters:
            print(json.dumps(_as_json(letter)))
        return
    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("id", "reason", "attempts", "routing key", "failed at", "body"):
        table.add_column(column)
    for x in letters:
        table.add_row(
            x.id,
            f"[bold]{x.reason_code}[/]: {x.reason}",
            str(x.attempts),
            x.message.domain_routing_key,
            x.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
            _preview(x.message.body),
        )
    out.print(table)


async def _replay(settings: Settings, ids: list[str] | None) -> int:
    target = subscription(settings, load_pipeline_set(settings))
    async with bus_session(settings) as (_, dlq):
        return await dlq.replay(target, ids)


@app.command("replay")
def replay(
    ids: list[str] = typer.Option(
        [], "--id", help="Dead-letter id to replay (repeatable). Without --id: all of them."
    ),
) -> None:
    """Send dead letters back to Outrigger's queue (after fixing the cause).

    The original bytes and headers are re-queued on Outrigger's own queue (never on the
    domain exchange, so other consumers do not see the event twice); the routing key is
    kept in the x-outrigger-routing-key header.
    """
    settings = load_settings()
    count = run(_replay(settings, ids or None))
    if count:
        record_change(settings, DEPLOYMENT, "dlq.replay", {"ids": ids or "all", "replayed": count})
    out.print(f"replayed {count} dead letter(s)")
    if ids and count < len(ids):
        fail(f"{len(ids) - count} id(s) not found in the dead-letter queue")
