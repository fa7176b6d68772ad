"""``outrigger events publish`` and ``tail``: put an event on the bus by hand, and follow
events (results by default) without taking them from any consumer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from outrigger.bus.base import BusMessage, Subscription
from outrigger.cli.common import err, fail, load_settings, out, run
from outrigger.config.settings import Settings
from outrigger.engine.follow import Followed, follow, follower
from outrigger.engine.pipeline import PipelineSet
from outrigger.runtime import bus_session, load_pipeline_set, subscription

app = typer.Typer(help="Work with events on the bus.", no_args_is_help=True)


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    if not path.is_file():
        fail(f"no such file: {source}", code=2)
    return path.read_bytes()


def _message(
    body: bytes, raw: bool, routing_key: str | None, pipelines: PipelineSet
) -> tuple[BusMessage, str | None]:
    """The message to publish, and a note on how its routing key was chosen."""
    if raw:
        return BusMessage(body, routing_key or "", {}, None, "application/octet-stream"), None
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        fail(f"not a JSON CloudEvent ({exc}); use --raw to send bytes as they are", code=2)
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        fail("not a CloudEvent 1.0 (no specversion '1.0'); use --raw to send it anyway", code=2)
    key, note = routing_key, None
    if key is None:
        key, note = _default_key(str(event.get("type", "")), pipelines)
    message = BusMessage(body, key, {}, str(event.get("id")), "application/cloudevents+json")
    return message, note


def _default_key(event_type: str, pipelines: PipelineSet) -> tuple[str, str]:
    found = pipelines.routing_key_for(event_type)
    if found is not None:
        key, pipeline = found
        return key, f"routing key {key} from pipeline {pipeline.label} (its on.routing_keys)"
    return event_type, (
        f"no pipeline binds type {event_type!r} to a literal routing key: used the type "
        "as the routing key (give one with -k)"
    )


async def _publish(
    settings: Settings, message: BusMessage, exchange: str, pipelines: PipelineSet
) -> None:
    async with bus_session(settings) as (bus, _):
        # Make sure Outrigger's queue exists and is bound, so the event waits for the worker
        # even if it has never run; an event no queue accepts is refused, not dropped.
        await bus.declare(subscription(settings, pipelines))
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
    pipelines = load_pipeline_set(settings)
    message, note = _message(_read(source), raw, routing_key, pipelines)
    if raw and not message.routing_key:
        fail("--raw needs --routing-key", code=2)
    target = exchange if exchange is not None else settings.bus.exchange
    run(_publish(settings, message, target, pipelines))
    if note:
        err.print(f"note: {note}", highlight=False, soft_wrap=True)
    out.print(
        f"published {len(message.body)} bytes to {target or '(default)'} "
        f"with routing key {message.routing_key}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("tail")
def tail(
    keys: list[str] = typer.Option(
        [],
        "--key",
        "-k",
        help="Routing-key pattern to follow (repeatable; * one word, "
        "# any number). Default: the result keys of the pipelines, or # with --type.",
    ),
    types: list[str] = typer.Option(
        [], "--type", "-t", help="Only events whose type matches this glob (repeatable)."
    ),
    exchange: str | None = typer.Option(
        None,
        help="Exchange to follow (default: where results go; with --type or --key, "
        "the domain exchange).",
    ),
    count: int | None = typer.Option(None, "--count", "-n", min=1, help="Stop after N events."),
    timeout: float | None = typer.Option(None, min=0, help="Stop after S seconds."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per event and line."),
) -> None:
    """Follow events on the bus: results by default, or any type or routing key. A
    temporary subscription of its own gets a copy of each event, so no other consumer
    loses one; it is removed when tail stops. Exits 1 when --count was not reached
    before --timeout."""
    settings = load_settings()
    pipelines = load_pipeline_set(settings)
    own = bool(keys or types)
    patterns = tuple(keys) or (("#",) if types else pipelines.result_keys())
    if exchange is None:
        exchange = settings.bus.exchange if own else settings.bus.results_to
    sub = follower(exchange, patterns, settings.bus.queue)
    seen = run(_tail(settings, sub, types, pipelines, count, timeout, as_json))
    if count is not None and seen < count:
        fail(f"got {seen} of {count} events in {timeout} s")


async def _tail(
    settings: Settings,
    sub: Subscription,
    types: list[str],
    pipelines: PipelineSet,
    count: int | None,
    timeout_s: float | None,
    as_json: bool,
) -> int:
    seen = 0
    async with bus_session(settings) as (bus, _):
        await bus.declare(sub)  # from here on, every matching event is copied to us
        patterns = ", ".join(sub.bindings)
        err.print(
            f"following {sub.exchange} for {patterns} on the temporary subscription "
            f"{sub.queue} (Ctrl-C stops)",
            soft_wrap=True,
            highlight=False,
        )
        events = follow(
            bus, sub, types=types, rules=pipelines.plain_rules, count=count, timeout_s=timeout_s
        )
        async for followed in events:
            seen += 1
            _show(followed, as_json)
    return seen


def _show(followed: Followed, as_json: bool) -> None:
    if as_json:
        print(json.dumps(followed.as_json(), default=str), flush=True)
        return
    key = followed.message.domain_routing_key
    if followed.event is None:
        out.print(f"[red]{key}[/]  unreadable: {followed.error}", highlight=False)
        return
    e = followed.event
    data = json.dumps(e.data, default=str, separators=(",", ":"))
    out.print(f"[bold]{e.type}[/]  {key}  {e.id}  {data}", highlight=False, soft_wrap=True)
