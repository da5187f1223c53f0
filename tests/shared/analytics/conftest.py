"""The KPIs' lake (`kpi_lake_dir`, tests/conftest.py), opened, read and copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.analytics import KpiReader
from shared.lake import Lake
from tests.model.conftest import copy_lake


@pytest.fixture(scope="session")
def kpi_lake(kpi_lake_dir: Path) -> Lake:
    return Lake.open(str(kpi_lake_dir))


@pytest.fixture(scope="session")
def reader(kpi_lake: Lake) -> KpiReader:
    return KpiReader(kpi_lake)


@pytest.fixture
def lake_copy(kpi_lake_dir: Path, tmp_path: Path) -> Lake:
    """A private copy, for tests that change the lake."""
    return copy_lake(kpi_lake_dir, tmp_path / "lake")
