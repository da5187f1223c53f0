"""Real fixtures: local lakes in temporary folders, an Azurite lake, simulated events.

Azurite starts on first use, once per session: a test that uses it (through the `azurite`
fixture, or the "azurite" parameter of `any_lake`) is marked `azurite`, so
`pytest -m "not azurite"` (`make test-fast`) never starts it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, settings

from shared.lake import Lake
from shared.settings import Settings, current_settings
from shared.simulator import ShopConfig, event_bodies, simulate_shop
from shoplake.services import Services, current_services
from tests.support.azurite import Azurite, start_azurite, stop_azurite
from tests.support.retail import ONLINE_RETAIL_YEAR, build_retail_year_lake
from tests.support.shops import build_kpi_lake

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# No timing limits in tests: machines are noisy (performance lives in bench/).
settings.register_profile("shoplake", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shoplake")


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that needs Azurite (its fixtures include `azurite`) is marked `azurite`."""
    if "azurite" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.azurite)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    emulator, process = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield emulator
    stop_azurite(process)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark session for the session's Spark tests (a JVM starts on first use)."""
    from shared.warehouse.spark import local_spark

    session = local_spark()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def local_lake(tmp_path: Path) -> Lake:
    return Lake.open(str(tmp_path / "lake"))


@pytest.fixture
def azurite_lake(azurite: Azurite) -> Lake:
    """A lake in a fresh container, so tests never see each other's files."""
    return Lake.open(f"az://t{uuid.uuid4().hex[:12]}/shoplake",
                     connection_string=azurite.connection_string)


@pytest.fixture(params=["local", pytest.param("azurite", marks=pytest.mark.azurite)])
def any_lake(request: pytest.FixtureRequest) -> Lake:
    """The same test on the embedded lake and on Azurite."""
    if request.param == "local":
        return request.getfixturevalue("local_lake")
    return request.getfixturevalue("azurite_lake")


@pytest.fixture
def services(local_lake: Lake) -> Services:
    return Services(Settings(lake_url=local_lake.url), lake=local_lake)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Process settings as the Functions host provides them: environment variables."""
    lake_dir = tmp_path / "env-lake"
    monkeypatch.setenv("LAKE_URL", str(lake_dir))
    current_settings.cache_clear()
    current_services.cache_clear()
    yield lake_dir
    current_settings.cache_clear()
    current_services.cache_clear()


@pytest.fixture(scope="session")
def shop_events() -> pa.Table:
    """Three days of a small simulated shop's events (contract-valid, time-ordered)."""
    shop = simulate_shop(ShopConfig(seed=11, start=date(2026, 11, 1), days=3, products=120,
                                    customers=400, sessions_per_day=150))
    return pa.concat_tables(day.events for day in shop.days())


@pytest.fixture(scope="session")
def shop_bodies(shop_events: pa.Table) -> list[bytes]:
    return event_bodies(shop_events)


@pytest.fixture(scope="session")
def kpi_lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A refreshed lake where every KPI has rows (tests/support/shops.py), built once."""
    return build_kpi_lake(tmp_path_factory.mktemp("kpis"))


@pytest.fixture(scope="session")
def retail_year_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The Online Retail year through the batch path and the refresh, built once; tests
    only read it."""
    if not ONLINE_RETAIL_YEAR.exists():
        pytest.skip(f"{ONLINE_RETAIL_YEAR} is not here")
    return build_retail_year_lake(tmp_path_factory.mktemp("retail-year"))
