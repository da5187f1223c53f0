"""The catalog of table specs: a new KPI is one SQL file and one spec, and bad specs are
refused with a message that names the file and the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.lake import Lake
from shared.settings import ConfigurationError
from shared.warehouse import refresh
from shared.warehouse.checks import run_data_tests, table_status
from shared.warehouse.specs import TABLES_FOLDER, Step, Write, load_catalog
from tests.support.shops import assert_same_tables, snapshot

ORDERS_BY_COUNTRY_SQL = """\
-- curated/kpi_orders_by_country_day: orders and net revenue per country per day.
SELECT
    order_date,
    COALESCE(country, 'unknown') AS country,
    COUNT(DISTINCT order_id) AS orders,
    CAST(SUM(revenue) AS DECIMAL(18, 2)) AS net_revenue
FROM fact_sales
GROUP BY order_date, COALESCE(country, 'unknown')
"""

ORDERS_BY_COUNTRY_SPEC = """\
zone = "curated"
step = "facts"
write = "partitions"
partition_by = "order_date"
key = ["order_date", "country"]

[inputs.fact_sales]
dates = "order_date"

[tests]
not_null = ["order_date", "country", "orders"]
"""


@pytest.fixture
def with_new_kpi(tmp_path: Path) -> Path:
    """A folder holding one throw-away KPI: its SQL file and its spec, nothing else."""
    folder = tmp_path / "more_tables"
    folder.mkdir()
    (folder / "kpi_orders_by_country_day.sql").write_text(ORDERS_BY_COUNTRY_SQL)
    (folder / "kpi_orders_by_country_day.toml").write_text(ORDERS_BY_COUNTRY_SPEC)
    return folder


def test_a_new_kpi_is_one_sql_file_and_one_spec(
        tmp_path: Path, with_new_kpi: Path, fed_shop) -> None:
    catalog = load_catalog(TABLES_FOLDER, with_new_kpi)
    kpi = catalog["kpi_orders_by_country_day"]
    assert (kpi.step, kpi.write, kpi.reads) == (Step.FACTS, Write.PARTITIONS, ("fact_sales",))

    incremental = Lake.open(str(tmp_path / "incremental"))
    fed = fed_shop(incremental)
    fed.deliver(1, 3)
    first = refresh(incremental, catalog=catalog)
    assert {t.table for t in first.tables} == {spec.table for spec in catalog}

    fed.deliver(4, 4)
    second = {t.table: t for t in refresh(incremental, catalog=catalog).tables}
    built = second["kpi_orders_by_country_day"]
    assert (built.action, built.partitions) == ("partitions", second["fact_sales"].partitions)
    assert built.partitions < 4  # the new day (and days a late line touched), not all

    full = Lake.open(str(tmp_path / "full"))
    twin = fed_shop(full)
    twin.deliver(1, 3)
    twin.deliver(4, 4)
    refresh(full, full=True, catalog=catalog)
    assert_same_tables(snapshot(incremental, catalog), snapshot(full, catalog))
    assert [r for r in run_data_tests(incremental, catalog) if not r.passed] == []
    listed = {status.name: status for status in table_status(incremental, catalog)}
    assert listed["kpi_orders_by_country_day"].path == "curated/kpi_orders_by_country_day"
    assert listed["kpi_orders_by_country_day"].rows == snapshot(full, catalog)[
        "kpi_orders_by_country_day"].num_rows > 0


def _problem(tmp_path: Path, files: dict[str, str]) -> str:
    folder = tmp_path / "bad"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    with pytest.raises(ConfigurationError) as error:
        load_catalog(TABLES_FOLDER, folder)
    return str(error.value)


def test_a_sql_file_without_a_spec_is_refused(tmp_path: Path) -> None:
    message = _problem(tmp_path, {"kpi_x.sql": "SELECT 1 AS x FROM fact_sales"})
    assert "kpi_x" in message and "<name>.toml" in message


def test_a_spec_with_an_unknown_write_mode_names_the_file_and_field(tmp_path: Path) -> None:
    message = _problem(tmp_path, {
        "kpi_x.sql": ORDERS_BY_COUNTRY_SQL,
        "kpi_x.toml": ORDERS_BY_COUNTRY_SPEC.replace('"partitions"', '"append"')})
    assert "kpi_x.toml" in message and "write" in message


def test_a_partitioned_table_must_say_what_drives_its_dates(tmp_path: Path) -> None:
    spec = ORDERS_BY_COUNTRY_SPEC.split("[inputs.fact_sales]")[0]
    message = _problem(tmp_path, {"kpi_x.sql": ORDERS_BY_COUNTRY_SQL, "kpi_x.toml": spec})
    assert "kpi_x" in message and "[inputs]" in message


def test_a_table_read_before_the_step_that_builds_it_is_refused(tmp_path: Path) -> None:
    spec = ORDERS_BY_COUNTRY_SPEC.replace('"facts"', '"dimensions"')
    message = _problem(tmp_path, {"kpi_x.sql": ORDERS_BY_COUNTRY_SQL, "kpi_x.toml": spec})
    assert "fact_sales" in message and "later step" in message


def test_tables_that_read_each_other_are_refused(tmp_path: Path) -> None:
    one = "SELECT * FROM kpi_b"
    other = "SELECT * FROM kpi_a"
    spec = 'zone = "curated"\nstep = "kpis"\nwrite = "replace"\nkey = ["x"]\n'
    message = _problem(tmp_path, {"kpi_a.sql": one, "kpi_a.toml": spec,
                                  "kpi_b.sql": other, "kpi_b.toml": spec})
    assert "cycle" in message and "kpi_a" in message


def test_the_shipped_tables_folder_loads_as_the_default_catalog(tmp_path: Path) -> None:
    copy = tmp_path / "tables"
    shutil.copytree(TABLES_FOLDER, copy)
    assert [spec.name for spec in load_catalog(copy)] == [
        spec.name for spec in load_catalog()]
