"""Support tickets for the demo's summarisation pipeline (written for the demo; fictional)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from outrigger.bus.base import BusMessage

TICKET_TYPE = "com.acme.support.TicketCreated"
TICKET_KEY = "support.ticket.created"
SUMMARY_KEY = "ai.ticket.summarized"
DEMO_TENANT = "demo"

TICKETS = [
    "I was charged twice for my card payment of 45.20 at the grocery store on Monday. "
    "Please refund the duplicate charge.",
    "My loan application has been pending for three weeks and nobody answers my emails. "
    "I need a decision before I sign the lease on Friday.",
    "The mobile app logs me out every time I try to open the statements page. "
    "I reinstalled it twice and it still happens.",
    "I moved to a new address last month. How do I update it so my new debit card is not "
    "sent to the old flat?",
    "A transfer of 1,200 to my landlord left my account on the 3rd but he says it never "
    "arrived. What can I do?",
    "I want to close my savings account and move the balance to my current account. "
    "Is there a fee?",
    "Your branch in the city centre told me to call you, and the phone line told me to go "
    "to the branch. I just need a new PIN.",
    "My credit limit was lowered without notice and my payment at the pharmacy was "
    "declined. Why did this happen?",
]


def ticket_event(n: int) -> tuple[str, BusMessage]:
    event_id = str(uuid.uuid4())
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "urn:acme:support-desk",
        "type": TICKET_TYPE,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "ticket_id": f"T-{1000 + n}",
            "tenant_id": DEMO_TENANT,
            "body": TICKETS[n % len(TICKETS)],
        },
    }
    body = json.dumps(event).encode()
    return event_id, BusMessage(
        body, TICKET_KEY, message_id=event_id, content_type="application/cloudevents+json"
    )
