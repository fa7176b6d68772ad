"""``outrigger asyncapi``: the AsyncAPI 3.0.0 document of this deployment."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
import yaml

from outrigger.cli.common import PipelinesOption, err, fail, with_pipelines
from outrigger.config.load import ConfigProblems, load_pipelines
from outrigger.contracts import asyncapi_document
from outrigger.errors import ConfigError
from outrigger.runtime import pipelines_path


class Format(StrEnum):
    json = "json"
    yaml = "yaml"


class _Dumper(yaml.SafeDumper):
    """No anchors and aliases: a schema used twice is written out twice, as readers expect."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(doc: dict[str, Any], fmt: Format) -> str:
    if fmt is Format.json:
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text


def asyncapi_command(
    pipelines: Path | None = PipelinesOption,
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write the document to FILE (default: standard output).",
        dir_okay=False,
    ),
    fmt: Format | None = typer.Option(
        None,
        "--format",
        "-f",
        help="json or yaml (default: from the file's suffix, else yaml).",
        case_sensitive=False,
    ),
    title: str = typer.Option("Outrigger", help="The document's info.title."),
) -> None:
    """Print or write the AsyncAPI 3.0.0 document of what this deployment consumes and
    publishes: the configured broker, a channel per pipeline input and result, the dead
    letters, and the message schemas (CloudEvents headers per broker, payload schemas from
    the pipelines). Read from the pipelines file and OUTRIGGER_BUS__*; no broker is contacted
    and no credentials are printed."""
    settings = with_pipelines(pipelines)
    path = pipelines_path(settings)
    try:
        spec = load_pipelines(path)
        doc = asyncapi_document(spec, settings.bus, data_dir=settings.data_dir, title=title)
    except ConfigProblems as exc:
        err.print(f"[bold red]{path}: {len(exc.problems)} problem(s)[/]", highlight=False)
        for problem in exc.problems:
            err.print(f"  {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    except (ConfigError, OSError) as exc:
        fail(str(exc))
    if fmt is None:
        suffix = output.suffix.lower() if output is not None else ""
        fmt = Format.json if suffix == ".json" else Format.yaml
    text = render(doc, fmt)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"wrote {output} ({len(doc['channels'])} channels)", highlight=False)
