"""A stand-in for Bedrock Runtime's Converse API on 127.0.0.1, for the Bedrock adapter's tests.

It speaks the wire format the AWS SDK speaks to the real service, so the SDK's own code runs:
``POST /model/{modelId}/converse`` answers JSON, ``/model/{modelId}/converse-stream`` answers
``application/vnd.amazon.eventstream`` frames (messageStart, contentBlockStart/Delta/Stop,
messageStop, metadata). Errors come the AWS way: the ``x-amzn-ErrorType`` header and a
``{"message": ...}`` body, with AWS's status codes.

It checks what a real endpoint checks cheaply: a SigV4 ``Authorization`` header whose
credential scope is ``<key>/<date>/<region>/bedrock/aws4_request`` with this stand-in's
region, and an ``X-Amz-Date`` of that date; otherwise 403 like AWS. It does not check the
signature itself, model access, guardrails, quotas or the request's schema beyond what it
reads.

The answer: with a ``toolResult`` in the last user turn, ``tool said: <results>``; with tools
declared and either a forced choice (``any`` / ``tool``) or a line ``CALL_TOOL`` in the last
user text, a ``toolUse`` of the named (or first) tool whose input is the JSON on a line
``ARGS:<json>`` (else ``{"text": <the user's text>}``); otherwise ``echo: <text>``, or exactly
``<text>`` for a line ``REPLY:<text>``. Usage counts words.

Misbehaviour through ``POST /_control`` (tests/upstream.py's ``Behaviour``) or ``set()``:
``429`` (ThrottlingException, with ``Retry-After`` when ``retry_after`` is set), ``400``,
``403``, ``404``, ``500``, ``503``, ``slow`` (``delay_s`` before answering), ``slow_stream``
(``delay_s`` before each streamed event), ``drop``, ``break_stream`` (the connection closes
half-way), ``stream_throttle`` (a throttlingException event half-way), ``truncate`` (the
stream ends cleanly without messageStop and metadata).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.upstream import BEHAVIOUR, Behaviour, UpstreamThread, control, stats
from tests.upstreams import eventstream

EVENTSTREAM = "application/vnd.amazon.eventstream"
ERRORS = {
    "429": ("ThrottlingException", "Too many requests, please wait before trying again."),
    "400": (
        "ValidationException",
        "Malformed input request: bad parameter, please reformat your input and try again.",
    ),
    "403": (
        "AccessDeniedException",
        "You don't have access to the model with the specified model ID.",
    ),
    "404": ("ResourceNotFoundException", "The requested resource could not be found."),
    "500": ("InternalServerException", "The server encountered an internal error."),
    "503": ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}
_CREDENTIAL = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?Signature=[0-9a-f]{64}$"
)


@dataclass
class BedrockBehaviour(Behaviour):
    region: str = "us-east-1"


def aws_error(code: str, message: str, status: int, **headers: str) -> web.Response:
    headers = {
        "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        **headers,
    }
    headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return web.json_response({"message": message}, status=status, headers=headers)


def check_signature(
    request: web.Request, region: str
) -> tuple[dict[str, str] | None, web.Response | None]:
    """The credential scope of a SigV4-signed request, or AWS's 403."""
    authorization = request.headers.get("Authorization")
    if not authorization:
        return None, aws_error(
            "MissingAuthenticationTokenException", "Missing Authentication Token", 403
        )
    match = _CREDENTIAL.match(authorization)
    amz_date = request.headers.get("X-Amz-Date", "")
    if match is None or not amz_date.startswith(match["date"]):
        return None, aws_error(
            "InvalidSignatureException",
            "Authorization header requires a valid SigV4 signature.",
            403,
        )
    if match["service"] != "bedrock" or match["region"] != region:
        return None, aws_error(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region and service ({region}/bedrock).",
            403,
        )
    if "x-amz-date" not in match["signed"].split(";") or "host" not in match["signed"].split(";"):
        return None, aws_error(
            "InvalidSignatureException", "host and x-amz-date must be signed.", 403
        )
    return match.groupdict(), None


def _texts(blocks: list[dict[str, Any]]) -> str:
    return " ".join(str(b["text"]) for b in blocks if "text" in b)


def _tool_results(blocks: list[dict[str, Any]]) -> list[str]:
    return [_texts(b["toolResult"].get("content") or []) for b in blocks if "toolResult" in b]


def answer_blocks(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The answer's content blocks and stop reason (rules in the module's docstring)."""
    last = (body.get("messages") or [{}])[-1].get("content") or []
    text = _texts(last)
    if results := _tool_results(last):
        return [{"text": "tool said: " + " | ".join(results)}], "end_turn"
    tools = [t["toolSpec"] for t in (body.get("toolConfig") or {}).get("tools") or []]
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    if tools and ("any" in choice or "tool" in choice or "CALL_TOOL" in text.splitlines()):
        name = (choice.get("tool") or {}).get("name") or tools[0]["name"]
        args = next((ln[5:] for ln in text.splitlines() if ln.startswith("ARGS:")), None)
        tool_input = json.loads(args) if args else {"text": text}
        use = {"toolUseId": f"tooluse_{uuid.uuid4().hex[:12]}", "name": name, "input": tool_input}
        return [{"toolUse": use}], "tool_use"
    reply = next((ln[6:] for ln in text.splitlines() if ln.startswith("REPLY:")), None)
    return [{"text": reply if reply is not None else f"echo: {text}"}], "end_turn"


def usage(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, int]:
    said = [_texts(m.get("content") or []) for m in body.get("messages") or []]
    said += [str(s.get("text", "")) for s in body.get("system") or []]
    prompt = sum(len(s.split()) for s in said)
    out = sum(
        len(json.dumps(b["toolUse"]["input"]).split()) if "toolUse" in b else len(b["text"].split())
        for b in blocks
    )
    return {"inputTokens": prompt, "outputTokens": out, "totalTokens": prompt + out}


def stream_events(body: dict[str, Any]) -> list[bytes]:
    blocks, stop = answer_blocks(body)
    frames = [eventstream.event("messageStart", {"role": "assistant"})]
    for index, block in enumerate(blocks):
        if "toolUse" in block:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            frames.append(
                eventstream.event("contentBlockStart", {"start": start, "contentBlockIndex": index})
            )
            raw = json.dumps(use["input"])
            pieces = [raw[: len(raw) // 2], raw[len(raw) // 2 :]]
            deltas = [{"toolUse": {"input": p}} for p in pieces]
        else:
            words = block["text"].split(" ")
            deltas = [{"text": w if i == 0 else " " + w} for i, w in enumerate(words)]
        for delta in deltas:
            frames.append(
                eventstream.event("contentBlockDelta", {"delta": delta, "contentBlockIndex": index})
            )
        frames.append(eventstream.event("contentBlockStop", {"contentBlockIndex": index}))
    frames.append(eventstream.event("messageStop", {"stopReason": stop}))
    metadata = {"usage": usage(body, blocks), "metrics": {"latencyMs": 1}}
    frames.append(eventstream.event("metadata", metadata))
    return frames


async def _stream(
    request: web.Request, body: dict[str, Any], mode: str, delay_s: float
) -> web.StreamResponse:
    behaviour: Behaviour = request.app[BEHAVIOUR]
    response = web.StreamResponse(
        headers={"Content-Type": EVENTSTREAM, "x-amzn-RequestId": str(uuid.uuid4())}
    )
    await response.prepare(request)
    frames = stream_events(body)
    half = len(frames) // 2
    try:
        for i, data in enumerate(frames):
            if mode == "slow_stream":
                await asyncio.sleep(delay_s)
            if i == half and mode == "break_stream":
                assert request.transport is not None
                request.transport.close()
                return response
            if i == half and mode == "stream_throttle":
                await response.write(eventstream.exception("throttlingException", ERRORS["429"][1]))
                return response
            if i == len(frames) - 2 and mode == "truncate":
                break
            await response.write(data)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        behaviour.last["disconnected"] = True  # the client closed the stream early
    return response


async def converse(request: web.Request) -> web.StreamResponse:
    behaviour: BedrockBehaviour = request.app[BEHAVIOUR]  # type: ignore[assignment]
    scope, refusal = check_signature(request, behaviour.region)
    raw = await request.read()
    body = json.loads(raw or b"{}")
    behaviour.last = {
        "path": request.raw_path,
        "model": request.match_info["model"],
        "headers": dict(request.headers),
        "scope": scope,
        "body": body,
    }
    behaviour.bodies.append(body)
    if refusal is not None:
        return refusal
    mode = behaviour.take()
    if mode in ERRORS:
        extra = (
            {"Retry-After": behaviour.retry_after}
            if mode == "429" and behaviour.retry_after
            else {}
        )
        return aws_error(*ERRORS[mode], int(mode), **extra)
    if mode == "slow":
        await asyncio.sleep(behaviour.delay_s)
    elif mode == "drop":
        assert request.transport is not None
        request.transport.close()
        return web.Response()
    if request.path.endswith("/converse-stream"):
        return await _stream(request, body, mode, behaviour.delay_s)
    blocks, stop = answer_blocks(body)
    answer = {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": stop,
        "usage": usage(body, blocks),
        "metrics": {"latencyMs": 1},
    }
    return web.json_response(answer, headers={"x-amzn-RequestId": str(uuid.uuid4())})


def make_app(region: str) -> web.Application:
    app = web.Application()
    app[BEHAVIOUR] = BedrockBehaviour(region=region)
    app.router.add_post("/model/{model}/converse", converse)
    app.router.add_post("/model/{model}/converse-stream", converse)
    app.router.add_post("/_control", control)
    app.router.add_get("/_stats", stats)
    return app


class BedrockThread(UpstreamThread):
    """The stand-in on its own event loop in a thread; ``base`` is its endpoint URL."""

    def __init__(self, region: str = "us-east-1") -> None:
        super().__init__()
        self.app = make_app(region)

    @property
    def bedrock(self) -> BedrockBehaviour:
        behaviour: BedrockBehaviour = self.app[BEHAVIOUR]  # type: ignore[assignment]
        return behaviour


#: Fake credentials the tests sign with (the SDK's real signing code runs on them).
ACCESS_KEY = "AKIAOUTRIGGERTEST0001"
SECRET_KEY = "outrigger-test-secret-5c1e7f0b9a"
_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
)


def aws_test_env(monkeypatch: Any, tmp_path: Any, *, keys: bool = True) -> None:
    """An AWS environment of the tests' own: fake keys in the environment (or none), config
    and credentials files in ``tmp_path`` (absent until a test writes them), no instance
    metadata lookups, nothing inherited from the machine."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if keys:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    else:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def provider_config(standin: BedrockThread, **extra: Any) -> dict[str, Any]:
    """A ``bedrock`` provider's settings aimed at ``standin`` (its region, its URL)."""
    return {
        "kind": "bedrock",
        "aws_region": standin.bedrock.region,
        "base_url": standin.base,
        "timeout_s": 5,
        **extra,
    }
