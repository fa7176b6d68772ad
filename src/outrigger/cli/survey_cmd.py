"""``outrigger survey``: step one of adopting Outrigger. Samples the event surface (the
configured bus through a temporary subscription, an AsyncAPI document, or a JSON Lines
capture) and classifies each event type as sensitive, AI candidate or low value."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from outrigger.cli.common import err, fail, load_settings, out, run
from outrigger.config.settings import Settings
from outrigger.engine.envelope import PlainRule
from outrigger.errors import ConfigError, MissingExtraError
from outrigger.privacy import Detector, open_detector
from outrigger.runtime import bus_session
from outrigger.survey import (
    PIPELINES_FILE,
    SETTINGS_FILE,
    Collector,
    SchemaInference,
    Survey,
    as_json,
    classify_all,
    html_page,
    load_document,
    markdown,
    pipelines_yaml,
    read_jsonl,
    sample_bus,
    sample_subscription,
    settings_yaml,
    survey_document,
)
from outrigger.survey.report import labels_text, rate_text

#: Sampling time when neither --seconds nor --events is given.
DEFAULT_SECONDS = 60.0


def survey_command(
    asyncapi: Path | None = typer.Option(
        None,
        "--asyncapi",
        help="Survey an AsyncAPI 2.x/3.0 document (YAML or JSON) instead "
        "of the bus: payload schemas per channel, no counts.",
        exists=True,
        dir_okay=False,
    ),
    jsonl: str | None = typer.Option(
        None,
        "--jsonl",
        help="Survey a JSON Lines capture (one CloudEvent, or plain JSON "
        "with --type-field, per line; - for standard input) instead of the bus.",
    ),
    seconds: float | None = typer.Option(
        None,
        "--seconds",
        min=0.1,
        help=f"Bus: sample for S seconds (default {DEFAULT_SECONDS:g} "
        "unless --events is given; with both, whichever comes first).",
    ),
    events: int | None = typer.Option(
        None, "--events", "-n", min=1, help="Bus: stop after N messages."
    ),
    keys: list[str] = typer.Option(
        [],
        "--key",
        "-k",
        help="Bus: routing-key pattern to sample (repeatable; * one word, "
        "# any number). Default: # (every event on the exchange).",
    ),
    exchange: str | None = typer.Option(None, help="Bus: exchange (default: the domain exchange)."),
    type_field: str | None = typer.Option(
        None, "--type-field", help="Read plain JSON events (no CloudEvent) by this type field."
    ),
    pii_mode: str = typer.Option(
        "fast",
        "--pii-mode",
        help="PII detector: fast (regex and checksums) or full "
        "(Presidio + spaCy; needs the privacy extra).",
    ),
    out_dir: Path | None = typer.Option(
        None,
        "--out",
        file_okay=False,
        help="Write survey.md, survey.html, "
        f"{PIPELINES_FILE} and {SETTINGS_FILE} (the sanitise rules) into this directory.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on the last line."),
) -> None:
    """Survey the event surface: per event type the count and rate, sources, inferred schema
    (fields, types, how often present), PII found per field (entity types and counts; values
    are never shown or written) and a classification with its reasons: sensitive (needs a
    sanitise rule before AI), AI candidate (free text, numeric features) or low value.

    Without --asyncapi or --jsonl it samples the configured bus (the OUTRIGGER_BUS settings)
    through a temporary subscription of its own that takes nothing from any consumer."""
    if asyncapi is not None and jsonl is not None:
        fail("give at most one of --asyncapi and --jsonl", code=2)
    from_bus = asyncapi is None and jsonl is None
    if not from_bus and (seconds is not None or events is not None or keys or exchange):
        fail("--seconds, --events, --key and --exchange apply to the bus only", code=2)
    if pii_mode not in ("fast", "full"):
        fail(f"--pii-mode must be fast or full, not {pii_mode!r}", code=2)
    settings = load_settings()
    rules = [PlainRule(type_field)] if type_field else []
    if asyncapi is not None:
        survey = _from_asyncapi(asyncapi)
    else:
        collector = Collector(
            Survey("jsonl", jsonl or ""), SchemaInference(_detector(settings, pii_mode))
        )
        collector.survey.pii_mode = pii_mode
        if jsonl is not None:
            _from_jsonl(jsonl, collector, rules)
        else:
            _from_bus(settings, collector, rules, keys, exchange, events, seconds)
        survey = collector.survey
    classify_all(list(survey.types.values()))
    _show(survey, Console(stderr=True) if as_json else out)
    if out_dir is not None:
        _write(survey, out_dir)
    if as_json:
        print(json.dumps(as_json_with_files(survey, out_dir)), flush=True)


def _detector(settings: Settings, mode: str) -> Detector:
    try:
        return open_detector(settings.privacy, "full" if mode == "full" else "fast")
    except MissingExtraError as exc:
        fail(f"--pii-mode full: {escape(str(exc))}", code=2)


def _from_asyncapi(path: Path) -> Survey:
    try:
        return survey_document(load_document(path), str(path))
    except ConfigError as exc:
        fail(escape(str(exc)), code=2)


def _from_jsonl(source: str, collector: Collector, rules: list[PlainRule]) -> None:
    if source == "-":
        read_jsonl(None, sys.stdin.buffer, collector, rules)
        return
    path = Path(source)
    if not path.is_file():
        fail(f"no such file: {source}", code=2)
    with path.open("rb") as lines:
        read_jsonl(path, lines, collector, rules)


def _from_bus(
    settings: Settings,
    collector: Collector,
    rules: list[PlainRule],
    keys: list[str],
    exchange: str | None,
    events: int | None,
    seconds: float | None,
) -> None:
    target = exchange if exchange is not None else settings.bus.exchange
    patterns = tuple(keys) or ("#",)
    sub = sample_subscription(target, patterns, settings.bus.queue)
    collector.survey.input = "bus"
    collector.survey.origin = f"{settings.bus.kind} {target} {', '.join(patterns)}"
    if seconds is None and events is None:
        seconds = DEFAULT_SECONDS

    async def sample() -> None:
        async with bus_session(settings) as (bus, _):
            await bus.declare(sub)  # from here on, every matching event is copied to us
            err.print(
                f"sampling {target} for {', '.join(patterns)} on the temporary subscription "
                f"{sub.queue} (Ctrl-C stops)",
                soft_wrap=True,
                highlight=False,
                markup=False,
            )
            await sample_bus(bus, sub, collector, rules, count=events, seconds=seconds)

    run(sample())


def _show(survey: Survey, console: Console) -> None:
    table = Table(title="Event-surface survey", show_lines=True)
    for column in (
        "event type",
        "count",
        "rate",
        "fields",
        "PII found",
        "classification",
        "reasons",
    ):
        table.add_column(column, overflow="fold")
    for t in survey.ordered():
        pii = sorted({e for f in t.fields.values() for e in f.pii})
        reasons = "\n".join(t.classification.reasons) if t.classification else ""
        cells = [t.type, str(t.count), rate_text(survey, t), str(len(t.fields))]
        cells += [", ".join(pii), labels_text(t), reasons]
        table.add_row(*(Text(cell) for cell in cells))  # Text: no markup from event data
    console.print(table, markup=False, highlight=False)
    if survey.malformed:
        codes = ", ".join(f"{c} x{n}" for c, n in sorted(survey.malformed.items()))
        console.print(
            f"unreadable messages: {sum(survey.malformed.values())} ({codes})", markup=False
        )
    if not survey.types:
        console.print("no events found", markup=False)


def _write(survey: Survey, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "survey.md").write_text(markdown(survey), encoding="utf-8")
    (out_dir / "survey.html").write_text(html_page(survey), encoding="utf-8")
    (out_dir / SETTINGS_FILE).write_text(settings_yaml(survey), encoding="utf-8")
    if survey.types:  # a pipelines file needs at least one pipeline
        (out_dir / PIPELINES_FILE).write_text(pipelines_yaml(survey), encoding="utf-8")
    err.print(f"wrote the report and starter files to {out_dir}", highlight=False)


def as_json_with_files(survey: Survey, out_dir: Path | None) -> dict[str, object]:
    found = as_json(survey)
    if out_dir is not None:
        names = ["survey.md", "survey.html", SETTINGS_FILE]
        names += [PIPELINES_FILE] if survey.types else []
        found["files"] = [str(out_dir / n) for n in names]
    return found
