"""The external tools the deployment tests use, and how to get them.

* Helm: the ``helm-python-sdk`` wheel (PyPI) bundles Helm's Go SDK as a shared library, so
  ``pip install -e '.[dev]'`` brings a real Helm engine; nothing is downloaded at test time.
* Kubernetes schemas: the ``kubernetes-validate`` wheel (PyPI) ships the official OpenAPI
  schemas per Kubernetes version.
* Custom-resource schemas (CiliumNetworkPolicy, KEDA): the npm packages pinned in
  ``tests/deploy/node/package-lock.json``, installed with the machine's npm into a cache dir
  (default ``.venv/deploy-tools/node``; ``OUTRIGGER_DEPLOY_TOOLS_DIR`` overrides the parent).

``python -m tests.deploy.tools`` installs the npm packages ahead of a test run (the tests'
fixture does it too, on first use).
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NODE_SPEC = Path(__file__).resolve().parent / "node"
NPM_FILES = ("package.json", "package-lock.json")
NPM_TIMEOUT_S = 300


class ToolMissing(RuntimeError):
    """A tool the tests need is not installed; the message says how to get it."""


def tools_dir() -> Path:
    override = os.environ.get("OUTRIGGER_DEPLOY_TOOLS_DIR")
    return Path(override) if override else REPO / ".venv" / "deploy-tools"


def node_dir() -> Path:
    return tools_dir() / "node"


def _installed(target: Path) -> bool:
    if not (target / "node_modules" / "@kubernetes-models").is_dir():
        return False
    return all(
        (target / name).is_file() and filecmp.cmp(NODE_SPEC / name, target / name, shallow=False)
        for name in NPM_FILES
    )


def ensure_crd_schemas() -> Path:
    """The ``node_modules`` dir holding the pinned CRD schema packages (installs if needed)."""
    target = node_dir()
    if _installed(target):
        return target / "node_modules"
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ToolMissing("node and npm are needed for the CRD schemas (apt-get install npm)")
    target.mkdir(parents=True, exist_ok=True)
    for name in NPM_FILES:
        shutil.copyfile(NODE_SPEC / name, target / name)
    command = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
    try:
        done = subprocess.run(
            command, check=False, cwd=target, capture_output=True, text=True, timeout=NPM_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolMissing(f"npm ci timed out after {NPM_TIMEOUT_S} s in {target}") from exc
    if done.returncode != 0:
        raise ToolMissing(f"npm ci failed in {target}: {done.stderr.strip()[-400:]}")
    return target / "node_modules"


def main() -> int:
    try:
        print(ensure_crd_schemas())
    except ToolMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
