"""The ``outrigger`` command line."""

from __future__ import annotations

import typer

from outrigger import __version__
from outrigger.cli import (
    asyncapi_cmd,
    cache_cmd,
    config_cmd,
    dlq_cmd,
    events_cmd,
    ledger_cmd,
    models_cmd,
    privacy_cmd,
    survey_cmd,
    tenants_cmd,
)
from outrigger.cli.demo_cmd import demo_command
from outrigger.cli.gateway_cmd import gateway_command
from outrigger.cli.run_cmd import run_command

app = typer.Typer(
    name="outrigger",
    help="Outrigger: an AI sidecar for existing systems. Configure with OUTRIGGER_* variables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("run")(run_command)
app.command("demo")(demo_command)
app.command("gateway")(gateway_command)
app.add_typer(config_cmd.app, name="config")
app.add_typer(dlq_cmd.app, name="dlq")
app.add_typer(events_cmd.app, name="events")
app.add_typer(models_cmd.app, name="models")
app.add_typer(tenants_cmd.tenants_app, name="tenants")
app.add_typer(tenants_cmd.keys_app, name="keys")
app.command("usage")(ledger_cmd.usage_command)
app.add_typer(ledger_cmd.audit_app, name="audit")
app.add_typer(cache_cmd.app, name="cache")
app.add_typer(privacy_cmd.app, name="privacy")
app.command("survey")(survey_cmd.survey_command)
app.command("asyncapi")(asyncapi_cmd.asyncapi_command)


@app.command("version")
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    app()
