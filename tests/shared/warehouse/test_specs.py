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


def _folder(path: Path, files: dict[str, str | bytes]) -> Path:
    """A folder of table files (text, or bytes as they are)."""
    path.mkdir(exist_ok=True)
    for name, content in files.items():
        if isinstance(content, bytes):
            (path / name).write_bytes(content)
        else:
            (path / name).write_text(content)
    return path


@pytest.fixture
def with_new_kpi(tmp_path: Path) -> Path:
    """A folder holding one throw-away KPI: its SQL file and its spec, nothing else."""
    return _folder(tmp_path / "more_tables", {
        "kpi_orders_by_country_day.sql": ORDERS_BY_COUNTRY_SQL,
        "kpi_orders_by_country_day.toml": ORDERS_BY_COUNTRY_SPEC})


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


def _problem(tmp_path: Path, files: dict[str, str | bytes]) -> str:
    with pytest.raises(ConfigurationError) as error:
        load_catalog(TABLES_FOLDER, _folder(tmp_path / "bad", files))
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


def test_a_kpi_added_to_a_refreshed_lake_is_built_for_every_date(
        tmp_path: Path, with_new_kpi: Path, fed_shop) -> None:
    catalog = load_catalog(TABLES_FOLDER, with_new_kpi)
    lake = Lake.open(str(tmp_path / "incremental"))
    fed = fed_shop(lake)
    fed.deliver(1, 3)
    refresh(lake)  # the shipped tables only
    fed.deliver(4, 4)
    refresh(lake, catalog=catalog)

    full = Lake.open(str(tmp_path / "full"))
    twin = fed_shop(full)
    twin.deliver(1, 3)
    twin.deliver(4, 4)
    refresh(full, full=True, catalog=catalog)
    assert_same_tables(snapshot(lake, catalog), snapshot(full, catalog))


@pytest.mark.parametrize("sql", [
    ORDERS_BY_COUNTRY_SQL.rstrip() + ";\n",
    ORDERS_BY_COUNTRY_SQL + "-- a closing comment, no newline after it",
])
def test_a_statement_may_end_with_a_semicolon_or_a_comment(
        tmp_path: Path, fed_shop, sql: str) -> None:
    catalog = load_catalog(TABLES_FOLDER, _folder(tmp_path / "more", {
        "kpi_x.sql": sql, "kpi_x.toml": ORDERS_BY_COUNTRY_SPEC}))
    lake = Lake.open(str(tmp_path / "lake"))
    fed_shop(lake).deliver(1, 2)
    refresh(lake, catalog=catalog)
    assert snapshot(lake, catalog)["kpi_x"].num_rows > 0


SPEC = ORDERS_BY_COUNTRY_SPEC


@pytest.mark.parametrize(("files", "words"), [
    ({"kpi_x.sql": ORDERS_BY_COUNTRY_SQL, "kpi_x.toml": SPEC.replace('"curated"', '"raw"')},
     ["kpi_x.toml", "zone"]),
    ({"kpi_x.sql": ORDERS_BY_COUNTRY_SQL,
      "kpi_x.toml": SPEC.replace('zone = "curated"', 'zone = "curated"\ntable = "../raw/x"')},
     ["kpi_x.toml", "table"]),
    ({"kpi_x;drop.sql": ORDERS_BY_COUNTRY_SQL, "kpi_x;drop.toml": SPEC}, ["kpi_x;drop", "name"]),
    ({"kpi_x.sql": ORDERS_BY_COUNTRY_SQL,
      "kpi_x.toml": SPEC.replace('zone = "curated"', 'zone = "curated"\ntable = "fact_sales"')},
     ["kpi_x", "fact_sales", "curated/fact_sales"]),
    ({"fact_sales.sql": ORDERS_BY_COUNTRY_SQL, "fact_sales.toml": SPEC}, ["fact_sales", "already"]),
    ({"calendar.sql": "SELECT 1 AS date_day FROM fact_sales", "calendar.toml": SPEC},
     ["calendar", "input"]),
    ({"kpi_x.sql": "", "kpi_x.toml": SPEC}, ["kpi_x.sql", "one SELECT"]),
    ({"kpi_x.sql": "SELECT 1 AS x FROM fact_sales; SELECT 2 AS y FROM fact_sales",
      "kpi_x.toml": SPEC}, ["kpi_x.sql", "one SELECT"]),
    ({"kpi_x.sql": b"SELECT '\xff' AS x FROM fact_sales", "kpi_x.toml": SPEC},
     ["kpi_x.sql", "UTF-8"]),
])
def test_a_spec_that_could_harm_the_lake_is_refused_at_load(
        tmp_path: Path, files: dict[str, str | bytes], words: list[str]) -> None:
    message = _problem(tmp_path, files)
    assert all(word in message for word in words), message


@pytest.mark.parametrize(("sql", "spec", "words"), [
    (ORDERS_BY_COUNTRY_SQL.replace(
        "FROM fact_sales", "FROM fact_sales WHERE order_id NOT IN (SELECT id FROM fact_salez)"),
     SPEC, ["kpi_x.sql", "fact_salez"]),
    (ORDERS_BY_COUNTRY_SQL, SPEC.replace('partition_by = "order_date"', 'partition_by = "day"'),
     ["kpi_x", "partition_by", "day"]),
    (ORDERS_BY_COUNTRY_SQL, SPEC.replace('key = ["order_date", "country"]',
                                         'key = ["order_date", "region"]'),
     ["kpi_x", "key", "region"]),
    (ORDERS_BY_COUNTRY_SQL, SPEC.replace('"orders"]', '"margin"]'), ["kpi_x", "margin"]),
    ("SELECT customer_id AS id, 1 AS n FROM fact_sales",
     'zone = "curated"\nstep = "kpis"\nwrite = "merge"\nkey = ["id"]\n'
     '[merge]\nby = "customer_id"\n',
     ["kpi_x", "customer_id"]),
])
def test_a_spec_that_does_not_match_its_sql_is_refused_before_anything_is_written(
        tmp_path: Path, fed_shop, sql: str, spec: str, words: list[str]) -> None:
    folder = _folder(tmp_path / "bad", {"kpi_x.sql": sql, "kpi_x.toml": spec})
    lake = Lake.open(str(tmp_path / "lake"))
    fed_shop(lake).deliver(1, 1)
    with pytest.raises(ConfigurationError) as error:
        refresh(lake, catalog=load_catalog(TABLES_FOLDER, folder))
    assert all(word in str(error.value) for word in words), str(error.value)
    assert table_status(lake)[0].version is None  # nothing was written
