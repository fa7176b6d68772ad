"""Secrets at the edge of the settings: a mounted file wins over an inline value.

Kubernetes mounts secrets as files; an inline value (environment variable) is for laptops.
The file is read when the value is needed, so a rotated secret is picked up on restart
without rebuilding the settings' defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from outrigger.errors import ConfigError


def secret_value(file: Path | None, value: SecretStr | str | None, where: str) -> str | None:
    """The stripped text of ``file`` when it is set, else ``value`` (None when neither). An
    unreadable file is a ``ConfigError`` naming the setting ``<where>_file``."""
    if file is not None:
        return read_secret_file(file, where)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def read_secret_file(file: Path, where: str) -> str:
    """The stripped text of the mounted secret ``file``; an unreadable one is a
    ``ConfigError`` naming the setting ``<where>_file``."""
    try:
        return file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}_file: cannot read {file}: {exc.strerror}") from exc


def file_or_env(file: Path | None, env: str | None, where: str) -> str | None:
    """A key from a mounted file (``<where>_file``), else from the environment variable
    named by ``<where>_env``; None when neither is configured. Missing sources are a
    ``ConfigError`` naming the setting."""
    if file is not None:
        return read_secret_file(file, where)
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{where}_env: {env} is not set")
        return value
    return None
