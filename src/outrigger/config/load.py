"""Loading the pipelines file and turning every problem into ``key.path: reason``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from outrigger.config.pipelines import PipelinesFile
from outrigger.errors import ConfigError
from outrigger.resources import bundled_root

BUNDLED_PREFIX = "bundled:"


class ConfigProblems(ConfigError):
    """Several problems at once; ``problems`` holds one ``path: reason`` line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
        self.source = source
        self.problems = problems


def default_pipelines_file() -> Path:
    return bundled_root() / "pipelines" / "demo.yaml"


def resolve_model_path(path: str, base_dir: Path) -> Path:
    if path.startswith(BUNDLED_PREFIX):
        return bundled_root() / path[len(BUNDLED_PREFIX) :]
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base_dir / candidate


def format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


def validation_problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{format_loc(tuple(error['loc']))}: {message}")
    return problems


def parse_pipelines(text: str, source: str) -> PipelinesFile:
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigProblems(source, [f"(yaml) {where}: {problem}"]) from exc
    if not isinstance(raw, dict):
        raise ConfigProblems(source, ["(root): the file must be a mapping with 'pipelines'"])
    _fix_on_keys(raw)
    try:
        return PipelinesFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigProblems(source, validation_problems(exc)) from exc


def _fix_on_keys(raw: dict[Any, Any]) -> None:
    """YAML 1.1 reads a bare ``on:`` key as the boolean True; give it its name back."""
    pipelines = raw.get("pipelines")
    if isinstance(pipelines, list):
        for item in pipelines:
            if isinstance(item, dict) and True in item and "on" not in item:
                item["on"] = item.pop(True)


def load_pipelines(path: Path) -> PipelinesFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigProblems(str(path), [f"(file): cannot read: {exc.strerror}"]) from exc
    return parse_pipelines(text, str(path))
