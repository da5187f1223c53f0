"""Settings for the API tests' lakes (their conftest's fixtures and their tests use them)."""

from __future__ import annotations

from shared.lake import Lake
from shared.settings import Settings
from tests.model.conftest import FAST


def lake_settings(lake: Lake, **overrides: object) -> Settings:
    """Settings for `lake`, with training as fast as tests/model's (a week to test on)."""
    return Settings(lake_url=lake.url, recommender_test_days=FAST.test_days, **overrides)
