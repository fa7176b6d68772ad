"""The compliance profile only allows the PII modes that find person names (#14 item 3): its
settings (the chart's defaults with values-compliance.yaml on top, as the pods read them)
require names, and a values file that picks ``fast`` anywhere fails the settings check that
the config-check init container runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from outrigger.config.settings import Settings
from tests.deploy.render import COMPLIANCE_VALUES, effective_values, user_values


def settings_of(tmp_path: Path, overrides: dict[str, Any] | None = None) -> Settings:
    values = effective_values(user_values(COMPLIANCE_VALUES, overrides=overrides))
    return Settings.model_validate({"data_dir": tmp_path, **values["settings"]})


def test_compliance_profile_requires_names(tmp_path: Path) -> None:
    privacy = settings_of(tmp_path).privacy
    assert privacy.require_names
    assert privacy.default.mode == "standard"
    assert privacy.events_mode == "standard"


@pytest.mark.parametrize(
    "privacy",
    [
        {"default": {"mode": "fast"}},
        {"features": {"triage": {"mode": "fast"}}},
        {"features": {"bulk": {"enabled": False}}},
        {"events_mode": "fast"},
    ],
)
def test_compliance_profile_refuses_modes_that_miss_names(
    tmp_path: Path, privacy: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError, match="require_names"):
        settings_of(tmp_path, {"settings": {"privacy": privacy}})


def test_full_mode_is_allowed_per_feature(tmp_path: Path) -> None:
    overrides = {"settings": {"privacy": {"features": {"clinical": {"mode": "full"}}}}}
    assert settings_of(tmp_path, overrides).privacy.policy_for("clinical").mode == "full"
