"""``outrigger demo``: the whole event path on embedded defaults, no broker, no keys."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from outrigger.cli.common import load_settings, out, run
from outrigger.demo.console import OPERATOR
from outrigger.demo.runner import DemoReport, run_demo


def _table(report: DemoReport) -> Table:
    table = Table(title="Some AiAssessmentCompleted results")
    for column in ("application", "risk score", "band", "model", "latency ms"):
        table.add_column(column)
    for data in report.samples:
        model = ", ".join(f"{m['name']}@{m['version']}" for m in data["models"])
        table.add_row(
            str(data["application_id"]),
            f"{data['risk_score']:.3f}",
            str(data["risk_band"]),
            model,
            f"{data['latency_ms']:.2f}",
        )
    return table


def _summary(summary: dict[str, Any]) -> Table:
    table = Table(title="Summary", show_header=False)
    for key, value in summary.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    return table


def _announce(console: Console) -> Callable[[str, str], None]:
    def announce(url: str, key: str) -> None:
        console.print(f"[bold]Web console[/] on {url} (Ctrl-C to stop); sign in with:")
        console.print(key, highlight=False, markup=False, soft_wrap=True)

    return announce


def demo_command(
    events: int = typer.Option(500, "--events", "-n", min=1, help="Applications to emit."),
    malformed_rate: float = typer.Option(0.03, min=0.0, max=1.0, help="Share of malformed events."),
    seed: int = typer.Option(7, help="Random seed of the simulated loan service."),
    data_dir: Path | None = typer.Option(
        None, help="Keep the bus and stores here (default: a fresh temporary directory)."
    ),
    tickets: int = typer.Option(
        4, min=0, help="Support tickets for the summarisation pipeline (embedded LLM)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary line last."),
    web_console: bool = typer.Option(
        False,
        "--console",
        help="Then serve the web console (gateway.host:port, /console/) beside the worker "
        "until Ctrl-C, with a key of the 'operator' tenant to sign in with.",
    ),
) -> None:
    """Run the sidecar in-process with a simulated loan-origination service.

    The service emits LoanApplicationSubmitted events (a few malformed); Outrigger scores
    them with the bundled credit-risk ONNX model and publishes AiAssessmentCompleted. A
    support desk emits TicketCreated events, summarised by the embedded SmolLM2 model through
    the LLM proxy (ledger and audit included) when the local-llm extra is installed.
    """
    with tempfile.TemporaryDirectory(prefix="outrigger-demo-") as tmp:
        directory = data_dir or Path(tmp)
        extra = (
            {"console.operator_tenant": OPERATOR, "gateway.enabled": True} if web_console else {}
        )
        settings = load_settings(data_dir=str(directory), **{"bus.kind": "sqlite", **extra})
        console = Console(stderr=True) if as_json else out
        columns = (
            TextColumn("[bold]scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=as_json) as bar:
            task = bar.add_task("events", total=events + tickets)
            report = run(
                run_demo(
                    settings,
                    events,
                    malformed_rate=malformed_rate,
                    seed=seed,
                    tickets=tickets,
                    progress=lambda done, total: bar.update(task, completed=done),
                    console=_announce(bar.console) if web_console else None,
                )
            )
    summary = report.summary()
    if as_json:
        print(json.dumps(summary))
        return
    out.print(_table(report))
    out.print(_summary(summary))
    for item in report.summaries:
        out.print(f"[bold]{item['ticket_id']}[/] summary: {item['summary']}", highlight=False)
    if report.llm_note:
        out.print(report.llm_note)
    verdict = "[green]nothing lost[/]" if report.lost == 0 else f"[red]{report.lost} lost[/]"
    out.print(f"{report.results} results, {report.dead_lettered} dead-lettered, {verdict}.")
    if data_dir is None:
        out.print(
            "Keep the bus with --data-dir DIR, then: OUTRIGGER_DATA_DIR=DIR outrigger dlq list"
        )
    else:
        out.print(f"Dead letters: OUTRIGGER_DATA_DIR={data_dir} outrigger dlq list")
