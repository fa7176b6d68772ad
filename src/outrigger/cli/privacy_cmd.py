"""``outrigger privacy``: restore the identifiers of a sanitised event's result, for the
people allowed to (they need the vault key file and the database)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from outrigger.cli.common import fail, load_settings
from outrigger.proxy.service import proxy_database
from outrigger.runtime import event_vaults

app = typer.Typer(help="Persisted privacy vaults of sanitised events.", no_args_is_help=True)


@app.command("rehydrate")
def rehydrate(
    result_id: str = typer.Option(..., "--result-id", help="The result event's id."),
    source: str = typer.Argument("-", help="A file holding the text, or - for stdin."),
) -> None:
    """Print the text with the event's placeholders (<EMAIL_1> …) restored."""
    settings = load_settings()
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    db = proxy_database(settings)
    try:
        vaults = event_vaults(settings, db)
        if vaults is None:
            fail("no persisted vaults: set privacy.vault_key_file and privacy.events")
        vault = asyncio.run(vaults.load(result_id))
    finally:
        db.dispose()
    if vault is None:
        fail(f"no vault for {result_id!r} (never saved, or expired)")
    sys.stdout.write(vault.rehydrate(text))
