"""An AsyncAPI 3.0.0 document of what one deployment consumes and publishes.

Pure: the pipelines file and the bus settings in, a ``dict`` out (no broker is contacted, no
model loaded, no clock read: the same inputs give the same document, so it can be diffed in
review). Per pipeline: an input channel per routing-key binding with a ``receive`` operation,
and the result channel with a ``send`` operation; one dead-letter channel with a ``send``
operation for the whole worker (any pipeline's failures, and events no pipeline can read).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from outrigger import __version__
from outrigger.bus.settings import BusSettings
from outrigger.config.pipelines import PipelinesFile, PipelineSpec
from outrigger.contracts.brokers import Broker, Channel, broker_for
from outrigger.contracts.messages import Built, PipelineMessages, dead_letter_message
from outrigger.contracts.servers import servers_of

ASYNCAPI = "3.0.0"
DEAD_LETTERS = "deadLetters"
INPUT_KEY = (
    "The CloudEvents `partitionkey` when the producer sets one: the result and any replay "
    "keep it, so they land in the same partition."
)
RESULT_KEY = (
    "The `partitionkey` of the event it answers (or that event's record key); none when it "
    "had neither."
)


def _ref(*parts: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)}


def _channel(channel: Channel, title: str, messages: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"address": channel.address, "title": title}
    out["description"] = channel.description
    out["messages"] = {key: _ref("components", "messages", mid) for key, mid in messages.items()}
    if channel.bindings:
        out["bindings"] = channel.bindings
    out.update(channel.extensions)
    return out


def _operation(
    action: str, channel_id: str, keys: list[str], summary: str, bindings: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": action,
        "channel": _ref("channels", channel_id),
        "summary": summary,
        "messages": [_ref("channels", channel_id, "messages", k) for k in keys],
    }
    if bindings:
        out["bindings"] = bindings
    return out


def _short(message_id: str) -> str:
    return message_id.rsplit(".", 1)[-1]


def _pipeline(
    spec: PipelineSpec, broker: Broker, built: Built, doc: dict[str, dict[str, Any]]
) -> None:
    messages = PipelineMessages(spec, broker.bus.kind, built)
    inputs = {_short(m): m for m in messages.inputs(broker.message_bindings(INPUT_KEY))}
    patterns = spec.on.routing_keys or ["#"]
    types = ", ".join(f"`{t}`" for t in spec.on.types) or "any type"
    for i, pattern in enumerate(patterns, start=1):
        suffix = "" if len(patterns) == 1 else f".{i}"
        channel_id = f"{spec.name}.input{suffix}"
        title = f"{spec.name}: events in ({pattern})"
        doc["channels"][channel_id] = _channel(broker.input(pattern), title, inputs)
        doc["operations"][f"{spec.name}.receive{suffix}"] = _operation(
            "receive",
            channel_id,
            list(inputs),
            f"Pipeline {spec.name}@{spec.version} takes events of {types} from here; each is "
            "acknowledged only once its result is confirmed (or it is dead-lettered).",
            broker.receive_bindings(),
        )
    result = messages.result(broker.message_bindings(RESULT_KEY))
    publish = messages.publish
    channel_id = f"{spec.name}.result"
    title = f"{spec.name}: {publish.type}"
    doc["channels"][channel_id] = _channel(
        broker.result(publish.routing_key, publish.exchange or broker.bus.results_to),
        title,
        {"result": result},
    )
    doc["operations"][f"{spec.name}.sendResult"] = _operation(
        "send",
        channel_id,
        ["result"],
        f"Pipeline {spec.name}@{spec.version} publishes one {publish.type} per event it "
        "handles, checked against the publish step's schema first.",
        broker.send_bindings(),
    )


def asyncapi_document(
    pipelines: PipelinesFile,
    bus: BusSettings,
    *,
    data_dir: Path,
    title: str = "Outrigger",
    version: str = __version__,
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of ``pipelines`` on the bus ``bus`` describes."""
    broker = broker_for(bus)
    servers, security = servers_of(bus, data_dir)
    built = Built()
    doc: dict[str, dict[str, Any]] = {"channels": {}, "operations": {}}
    for spec in pipelines.pipelines:
        _pipeline(spec, broker, built, doc)
    letter = dead_letter_message(
        bus.kind, bus.queue, broker.message_bindings("The original record's key.")
    )
    built.messages["deadLetter"] = letter
    doc["channels"][DEAD_LETTERS] = _channel(
        broker.dead_letters(), "Dead letters", {"deadLetter": "deadLetter"}
    )
    doc["operations"]["sendDeadLetter"] = _operation(
        "send",
        DEAD_LETTERS,
        ["deadLetter"],
        "The worker dead-letters what it cannot handle (unreadable bytes, invalid events, "
        "mapping or output failures, retries exhausted) with the reason, then acknowledges it.",
        broker.send_bindings(),
    )
    components: dict[str, Any] = {"schemas": built.schemas, "messages": built.messages}
    if security:
        components["securitySchemes"] = security
    names = ", ".join(f"{p.name}@{p.version}" for p in pipelines.pipelines)
    info = {
        "title": title,
        "version": version,
        "description": f"What this Outrigger deployment consumes and publishes on its "
        f"`{bus.kind}` bus (pipelines: {names}). Generated by `outrigger asyncapi` from the "
        "pipelines file and the bus settings.",
    }
    # Deep-copied: parts built once (bindings, schemas) are shared, and a caller that edits
    # one place of the document must not change another.
    return copy.deepcopy(
        {
            "asyncapi": ASYNCAPI,
            "info": info,
            "defaultContentType": "application/json",
            "servers": servers,
            **doc,
            "components": components,
        }
    )
