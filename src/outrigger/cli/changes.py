"""Changes made with the CLI go to the audit chain exactly as the same change made in the
web console does (``AuditStore.record_action``): the actor is ``cli:<user>``."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from typing import Any

from outrigger.cli.common import fail
from outrigger.config.settings import Settings
from outrigger.proxy.service import proxy_database
from outrigger.storage.audit import AuditStore
from outrigger.storage.db import Database


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        user = "unknown"
    return f"cli:{user}"[:64]


def record_change(
    settings: Settings,
    tenant_id: str,
    action: str,
    detail: Mapping[str, Any],
    db: Database | None = None,
) -> None:
    """Chain the change just made (``db``: the proxy's database, when already open)."""
    own = db is None
    database = db or proxy_database(settings)
    try:
        AuditStore(database).record_action(tenant_id, cli_actor(), action, detail)
    except Exception as exc:  # the change is made; say loudly that it is not chained
        fail(f"done, but not recorded in the audit trail: {exc}")
    finally:
        if own:
            database.dispose()
