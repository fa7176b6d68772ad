"""``outrigger models``: publish, promote (behind the evaluation gate), roll back, list, show."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from outrigger.cli.changes import record_change
from outrigger.cli.common import fail, load_settings, out
from outrigger.registry.gate import gate_figures
from outrigger.registry.gate import promote as gated_promote
from outrigger.registry.registry import Registry, RegistryError
from outrigger.registry.serving import open_registry
from outrigger.storage.audit import DEPLOYMENT

app = typer.Typer(help="The model registry: versions, aliases, rollback.", no_args_is_help=True)


def _registry() -> Registry:
    return open_registry(load_settings())


@app.command("publish")
def publish(
    source: Path = typer.Argument(
        ...,
        exists=True,
        help="model.onnx, or a directory holding it "
        "(with metadata.json, MODEL_CARD.md, holdout.csv)",
    ),
    name: str = typer.Option(..., "--name", help="Model name, e.g. credit-risk."),
    version: str = typer.Option(..., "--version", help="Semantic version, e.g. 2.1.3."),
) -> None:
    """Add an immutable version (sha256 and signature recorded; older versions pruned)."""
    try:
        added = _registry().publish(source, name, version)
    except RegistryError as exc:
        fail(str(exc))
    out.print(f"published {added.label} sha256 {added.sha256}")


@app.command("promote")
def promote(
    name: str = typer.Argument(...),
    version: str = typer.Argument(...),
    alias: str = typer.Option("stable", "--alias", help="Alias to move."),
    metric: str | None = typer.Option(
        None, help="Gate metric: auc or accuracy (default: the model's gate_metric, else auc)."
    ),
    tolerance: float = typer.Option(0.01, min=0.0, help="Allowed regression of the metric."),
    force: bool = typer.Option(False, "--force", help="Promote even if the gate refuses (logged)."),
) -> None:
    """Point an alias at a version, if it does not regress on its held-out set."""
    try:
        result = gated_promote(
            _registry(), name, version, alias, metric=metric, tolerance=tolerance, force=force
        )
    except RegistryError as exc:
        fail(str(exc))
    detail = {"model": name, "version": version, "alias": alias, "forced": force,
              "gate": gate_figures(result)}  # fmt: skip
    record_change(load_settings(), DEPLOYMENT, "model.promote", detail)
    gate = "gate skipped (forced, no evaluation possible)" if result is None else result.describe()
    out.print(f"{name}:{alias} -> {version}; {gate}", highlight=False)


@app.command("rollback")
def rollback(
    name: str = typer.Argument(...),
    alias: str = typer.Option("stable", "--alias"),
) -> None:
    """Point an alias back at its previous version (workers follow within the poll interval)."""
    try:
        before, after = _registry().rollback(name, alias)
    except RegistryError as exc:
        fail(str(exc))
    detail = {"model": name, "alias": alias, "from": before, "to": after}
    record_change(load_settings(), DEPLOYMENT, "model.rollback", detail)
    out.print(f"{name}:{alias} rolled back {before} -> {after}")


@app.command("list")
def list_models(name: str | None = typer.Argument(None)) -> None:
    """Models, their versions and where each alias points."""
    registry = _registry()
    table = Table(title=f"model registry ({registry.store.describe()})")
    for column in ("model", "version", "aliases", "sha256"):
        table.add_column(column)
    for model in [name] if name else registry.names():
        aliases = registry.aliases(model)
        for version in registry.versions(model):
            tags = ", ".join(a for a, h in aliases.items() if h and h[-1] == version)
            table.add_row(model, version, tags, registry.get(model, version).sha256[:16])
    out.print(table)


@app.command("show")
def show(name: str = typer.Argument(...), ref: str = typer.Argument("stable")) -> None:
    """Metadata of one version (or the version an alias points to), as JSON."""
    registry = _registry()
    try:
        version = registry.resolve(name, ref)
        meta = registry.get(name, version).metadata
    except RegistryError as exc:
        fail(str(exc))
    print(
        json.dumps(
            {"name": name, "version": version, "aliases": registry.aliases(name), "metadata": meta},
            indent=2,
            sort_keys=True,
        )
    )
