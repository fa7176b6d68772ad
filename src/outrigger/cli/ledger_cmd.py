"""``outrigger usage`` and ``outrigger audit``: the cost ledger and the tamper-evident trail."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import typer
from rich.table import Table

from outrigger.cli.common import fail, load_settings, out
from outrigger.proxy.budgets import budget_lines
from outrigger.proxy.limits import month_of
from outrigger.proxy.service import proxy_database
from outrigger.storage.audit import AuditStore
from outrigger.storage.ledger import LedgerStore
from outrigger.storage.tenants import TenantStore

audit_app = typer.Typer(
    help=(
        "The audit trail: verify the hash chain, export it. These commands read the database "
        "directly (OUTRIGGER_STORAGE__URL) and need its credentials; they see every tenant's "
        "records. Over HTTP, /v1/audit/* serves a key with the 'auditor' role its own "
        "tenant's records and records each read in the chain."
    ),
    no_args_is_help=True,
)


def usage_command(
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM (UTC); default: this month."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Calls, tokens and cost of one tenant in one month, per feature and model alias, and
    its budgets (tenant, keys, features) with what was spent against each."""
    wanted = month or month_of(time.time())
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", wanted):
        fail("--month: use YYYY-MM")
    settings = load_settings()
    db = proxy_database(settings)
    try:
        ledger = LedgerStore(db)
        lines = ledger.usage(tenant, wanted)
        store = TenantStore(db)
        found = store.get_tenant(tenant)
        budgets = (
            budget_lines(found, settings.tenancy, ledger, wanted, store.list_keys(tenant))
            if found is not None
            else []
        )
    finally:
        db.dispose()
    if as_json:
        print(json.dumps({"tenant": tenant, "month": wanted, "data": [x.as_dict() for x in lines],
                          "budgets": [b.as_dict() for b in budgets]}))  # fmt: skip
        return
    table = Table("feature", "alias", "calls", "tokens in", "tokens out", "cost (USD)",
                  title=f"{tenant} {wanted}")  # fmt: skip
    for x in lines:
        table.add_row(x.feature, x.alias, str(x.calls), str(x.tokens_in), str(x.tokens_out),
                      f"{x.cost_usd:.6f}")  # fmt: skip
    table.add_row("total", "", str(sum(x.calls for x in lines)),
                  str(sum(x.tokens_in for x in lines)), str(sum(x.tokens_out for x in lines)),
                  f"{sum(x.cost_usd for x in lines):.6f}")  # fmt: skip
    out.print(table)
    if budgets:
        spend = Table("budget", "name", "USD a month", "spent", "used", title="budgets")
        for b in budgets:
            line = b.as_dict()
            spend.add_row(b.scope, b.name, f"{b.budget_usd:.2f}", f"{b.spent_usd:.6f}",
                          f"{line['used']:.1%}")  # fmt: skip
        out.print(spend)


@audit_app.command("verify")
def verify() -> None:
    """Walk the hash chain; name the first broken link (exit code 1) or confirm it is intact.

    Reads the database directly with its credentials (OUTRIGGER_STORAGE__URL)."""
    db = proxy_database(load_settings())
    try:
        checked, broken = AuditStore(db).verify()
    finally:
        db.dispose()
    if broken is not None:
        fail(f"audit chain broken at record {broken.seq}: {broken.reason} "
             f"({checked} records read)")  # fmt: skip
    out.print(f"audit chain intact: {checked} records")


@audit_app.command("export")
def export(
    output: Path | None = typer.Option(None, "--out", help="File to write (default: stdout)."),
) -> None:
    """Write every audit record as JSON Lines, in chain order.

    Reads the database directly with its credentials (OUTRIGGER_STORAGE__URL)."""
    db = proxy_database(load_settings())
    stream = output.open("w", encoding="utf-8") if output else sys.stdout
    count = 0
    try:
        for record in AuditStore(db).records():
            stream.write(json.dumps(record, sort_keys=True) + "\n")
            count += 1
    finally:
        if output:
            stream.close()
        db.dispose()
    if output:
        out.print(f"wrote {count} records to {output}")
