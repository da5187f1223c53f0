"""One settings object, documented in docs/configuration.md and the local.settings sample."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.settings import Settings
from tests.support.paths import ROOT

VARIABLES = [field.validation_alias for field in Settings.model_fields.values()]


def test_environment_drives_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKE_URL", "az://lake/x")
    monkeypatch.setenv("MAX_EVENT_BYTES", "1000")
    monkeypatch.setenv("HTTP_AUTH_LEVEL", "anonymous")
    monkeypatch.setenv("AZURE_CLIENT_ID", "")  # an empty app setting means unset

    settings = Settings()

    assert (settings.lake_url, settings.max_event_bytes, settings.http_auth_level) == (
        "az://lake/x", 1000, "anonymous")
    assert settings.azure_client_id is None


def test_bad_values_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_AUTH_LEVEL", "everyone")
    with pytest.raises(ValidationError, match="HTTP_AUTH_LEVEL"):
        Settings()


def test_configuration_page_lists_every_setting() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = page[page.index("## Settings"):]
    assert [v for v in VARIABLES if f"| `{v}` |" not in table] == []


def test_local_settings_sample_lists_every_setting() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text(encoding="utf-8"))
    assert [v for v in VARIABLES if v not in sample["Values"]] == []
