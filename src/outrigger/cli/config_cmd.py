"""``outrigger config check``."""

from __future__ import annotations

from pathlib import Path

import typer

from outrigger.cli.common import err, out, with_pipelines
from outrigger.config.load import ConfigProblems, load_pipelines
from outrigger.engine.pipeline import compile_pipelines
from outrigger.runtime import pipelines_path

app = typer.Typer(help="Validate configuration.", no_args_is_help=True)


@app.command("check")
def check(
    file: Path | None = typer.Argument(
        None, help="Pipelines YAML to check (default: the configured one).", dir_okay=False
    ),
) -> None:
    """Validate the settings (environment) and a pipelines file, loading its models.

    Every problem is printed as `key.path: reason`; the exit code is 1 if there is any.
    """
    settings = with_pipelines(None)
    path = file or pipelines_path(settings)
    try:
        spec = load_pipelines(path)
        pipelines = compile_pipelines(spec, path.parent, llm_aliases=settings.llm.aliases.keys())
    except ConfigProblems as exc:
        err.print(f"[bold red]{path}: {len(exc.problems)} problem(s)[/]", highlight=False)
        for problem in exc.problems:
            err.print(f"  {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    out.print(f"[green]ok[/] {path}: {len(pipelines.pipelines)} pipeline(s)", highlight=False)
    for p in pipelines.pipelines:
        models = [f"{s.model.name}@{s.model.version}" for s in p.scores]
        models += [f"llm {m}" for m in p.llm_models]
        used = ", ".join(models) or "no models"
        out.print(f"  {p.label}: {len(p.spec.steps)} steps, {used}", highlight=False)
