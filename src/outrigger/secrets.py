"""Secrets at the edge of the settings: a mounted file wins over an inline value.

Kubernetes mounts secrets as files; an inline value (environment variable) is for laptops.
The file is read when the value is needed, so a rotated secret is picked up on restart
without rebuilding the settings' defaults.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr


def secret_value(file: Path | None, value: SecretStr | str | None) -> str | None:
    """The stripped text of ``file`` when it is set, else ``value`` (None when neither)."""
    if file is not None:
        return file.read_text(encoding="utf-8").strip()
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value
