"""``outrigger survey`` against the real RabbitMQ (and the embedded SQLite bus): it samples a mix of event types
(structured and binary CloudEvents, plain JSON, one unreadable message) through a
temporary subscription, classifies them, never prints a sampled value, and takes nothing
from the domain's own queue on the same exchange."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from outrigger.bus.base import BusMessage, Subscription
from outrigger.config.settings import Settings
from outrigger.runtime import bus_session
from tests.bus_env import BusEnv, bus_params, cleanup, holds, make_env

pytestmark = pytest.mark.timeout(180)

NAMES = ["Aarav Mehta", "Sofia Marquez", "Lena Hoffmann", "Kwame Mensah"]
EMAILS = ["aarav.mehta@example.com", "s.marquez@example.org", "lena.h@example.net", "km@example.io"]
ACCOUNTS = [
    "GB33BUKB20201555555555",
    "NL91ABNA0417164300",
    "DE44500105175407324931",
    "BE71096123456769",
]
GRIPES_TEXT = (
    "my card payment failed at the store but the money left my account and support keeps "
    "closing the ticket without reading it so I want a refund and an apology today"
)
GRIPES = GRIPES_TEXT.split()
PER_TYPE = 8


def customer(i: int) -> BusMessage:
    n = i % len(NAMES)
    body = {
        "specversion": "1.0", "id": f"cust-{i}", "source": "urn:acme:onboarding",
        "type": "com.acme.accounts.AccountOpened",
        "data": {"account_id": f"A-{i}", "holder": {"name": NAMES[n], "email": EMAILS[n]},
                 "account_number": ACCOUNTS[n], "opened_at": "2026-03-01T10:00:00Z"},
    }  # fmt: skip
    return BusMessage(json.dumps(body).encode(), "accounts.opened", {}, f"cust-{i}",
                      "application/cloudevents+json")  # fmt: skip


def complaint(i: int, r: random.Random) -> BusMessage:
    """A binary-mode CloudEvent: attributes in headers, the data in the body."""
    headers = {
        "cloudEvents_specversion": "1.0", "cloudEvents_id": f"cmp-{i}",
        "cloudEvents_source": "urn:acme:support", "cloudEvents_type": "com.acme.support.ComplaintFiled",
    }  # fmt: skip
    data = {"complaint_id": f"K-{i}", "channel": "app", "text": " ".join(r.sample(GRIPES, 22))}
    return BusMessage(json.dumps(data).encode(), "support.complaint.filed", headers, f"cmp-{i}",
                      "application/json")  # fmt: skip


def shipped(i: int) -> BusMessage:
    body = {"event_type": "ParcelShipped", "parcel_id": f"P-{i}", "status": "in_transit",
            "shipped_at": "2026-03-01T12:00:00Z"}  # fmt: skip
    return BusMessage(
        json.dumps(body).encode(), "logistics.parcel.shipped", {}, None, "application/json"
    )


def mix() -> list[BusMessage]:
    r = random.Random(11)
    messages = [m for i in range(PER_TYPE) for m in (customer(i), complaint(i, r), shipped(i))]
    return [*messages, BusMessage(b"\xff\xfe not an event", "junk.bytes", {}, None, None)]


@pytest.fixture(params=bus_params(("sqlite", "rabbitmq")))
def bus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BusEnv]:
    made = make_env(request, tmp_path, "survey")
    yield made
    asyncio.run(cleanup(made, [made.name("domain")]))


async def declare(settings: Settings, sub: Subscription) -> None:
    async with bus_session(settings) as (opened, _):
        await opened.declare(sub)


async def publish_all(settings: Settings, messages: list[BusMessage]) -> None:
    async with bus_session(settings) as (opened, _):
        for message in messages:
            await opened.publish(message, exchange=settings.bus.exchange)


async def depth(settings: Settings, queue: str) -> int:
    async with bus_session(settings) as (opened, _):
        return await opened.depth(queue)


def test_survey_samples_classifies_and_takes_nothing(
    bus: BusEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in bus.env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    # The domain's own consumer queue, bound to everything on the same exchange.
    domain = Subscription(bus.name("domain"), bus.exchange, ("#",))
    asyncio.run(declare(settings, domain))
    messages = mix()
    out_dir = tmp_path / "report"
    survey = subprocess.Popen(
        [sys.executable, "-m", "outrigger", "survey", "--events", str(len(messages)),
         "--seconds", "120", "--type-field", "event_type", "--out", str(out_dir), "--json"],
        env={**os.environ, "COLUMNS": "200", **bus.env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert survey.stderr is not None
        started = survey.stderr.readline()
        assert "on the temporary subscription" in started, started + survey.stderr.read()
        queue = started.split("temporary subscription ", 1)[1].split()[0]
        asyncio.run(publish_all(settings, messages))
        stdout, stderr = survey.communicate(timeout=150)
    finally:
        if survey.poll() is None:
            survey.kill()
            survey.wait()
    assert survey.returncode == 0, stderr
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["input"] == "bus" and report["messages"] == len(messages)
    assert report["malformed"] == {"not_utf8": 1}
    types = {t["type"]: t for t in report["types"]}
    opened = types["com.acme.accounts.AccountOpened"]
    assert opened["labels"] == ["sensitive"]
    assert set(opened["sensitive_fields"]) == {"holder.name", "holder.email", "account_number"}
    assert opened["keys"] == ["accounts.opened"] and opened["sources"] == ["urn:acme:onboarding"]
    complaints = types["com.acme.support.ComplaintFiled"]
    assert complaints["labels"] == ["ai-candidate"] and complaints["text_fields"] == ["text"]
    assert types["ParcelShipped"]["labels"] == ["low-value"]
    assert all(t["count"] == PER_TYPE and t["rate_per_s"] > 0 for t in types.values())
    # Values are never shown or written.
    files = [p.read_text() for p in out_dir.iterdir()]
    assert len(files) == 4
    for text in [stdout, stderr, *files]:
        for planted in [*NAMES, *EMAILS, *ACCOUNTS]:
            assert planted not in text
    # The domain's queue still holds every message; the survey's own queue is gone.
    assert asyncio.run(depth(settings, domain.queue)) == len(messages)
    assert not asyncio.run(holds(bus, queue))
