"""``outrigger events publish``: put an event on the configured bus by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from outrigger.bus.base import BusMessage
from outrigger.cli.common import fail, load_settings, out, run
from outrigger.config.settings import Settings
from outrigger.runtime import bus_session, load_pipeline_set, subscription

app = typer.Typer(help="Work with events on the bus.", no_args_is_help=True)


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    if not path.is_file():
        fail(f"no such file: {source}", code=2)
    return path.read_bytes()


def _message(body: bytes, raw: bool, routing_key: str | None) -> BusMessage:
    if raw:
        return BusMessage(body, routing_key or "", {}, None, "application/octet-stream")
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"not a JSON CloudEvent ({exc}); use --raw to send bytes as they are", code=2)
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        fail("not a CloudEvent 1.0 (no specversion '1.0'); use --raw to send it anyway", code=2)
    key = routing_key or str(event.get("type", ""))
    return BusMessage(body, key, {}, str(event.get("id")), "application/cloudevents+json")


async def _publish(settings: Settings, message: BusMessage, exchange: str) -> None:
    async with bus_session(settings) as (bus, _):
        # Make sure Outrigger's queue exists and is bound, so the event waits for the worker
        # even if it has never run; an event no queue accepts is refused, not dropped.
        await bus.declare(subscription(settings, load_pipeline_set(settings)))
        await bus.publish(message, exchange=exchange)


@app.command("publish")
def publish(
    source: str = typer.Argument(..., help="File with the event, or - for standard input."),
    routing_key: str | None = typer.Option(
        None, "--routing-key", "-k", help="Routing key (default: the CloudEvent's type)."
    ),
    exchange: str | None = typer.Option(None, help="Exchange (default: the domain exchange)."),
    raw: bool = typer.Option(False, "--raw", help="Send the bytes as they are, unchecked."),
) -> None:
    """Publish a CloudEvent (structured JSON), or raw bytes with --raw, to the bus."""
    settings = load_settings()
    message = _message(_read(source), raw, routing_key)
    if raw and not message.routing_key:
        fail("--raw needs --routing-key", code=2)
    target = exchange if exchange is not None else settings.bus.exchange
    run(_publish(settings, message, target))
    out.print(
        f"published {len(message.body)} bytes to {target or '(default)'} "
        f"with routing key {message.routing_key}",
        highlight=False,
    )
