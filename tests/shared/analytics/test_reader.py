"""The KPI reader: answers cached per table version, filters checked against the data."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import orjson
import pytest

from shared.analytics import KPIS, KpiError, KpiFilters, KpiReader
from shared.lake import Lake, Zone
from shared.simulator import simulate_shop
from shared.warehouse import refresh
from tests.support.shops import SMALL_SHOP, fed_shop


@pytest.fixture(scope="module")
def small_shop_days() -> tuple:
    shop = simulate_shop(SMALL_SHOP)
    return shop, list(shop.days())


def test_every_kpi_answers_the_columns_its_spec_describes(reader: KpiReader) -> None:
    for name, spec in KPIS.items():
        rows = orjson.loads(reader.answer(name, KpiFilters()))["rows"]
        assert rows, name
        assert list(rows[0]) == list(spec.columns) == list(spec.example), name


def test_an_unchanged_lake_is_answered_from_the_cache(reader: KpiReader) -> None:
    first = reader.answer("top_products", KpiFilters(limit=5))
    assert reader.answer("top_products", KpiFilters(limit=5)) is first
    assert reader.answer("top_products", KpiFilters(limit=4)) is not first


def test_a_refresh_is_seen_by_the_next_request(lake_copy: Lake) -> None:
    reader = KpiReader(lake_copy)
    before = orjson.loads(reader.answer("revenue_by_category", KpiFilters()))
    table = lake_copy.table(Zone.CURATED, "kpi_revenue_by_category_day")
    table.delete(f"order_date = '{before['rows'][0]['order_date']}'")
    after = orjson.loads(reader.answer("revenue_by_category", KpiFilters()))
    assert after["as_of"]["kpi_revenue_by_category_day"] == (
        before["as_of"]["kpi_revenue_by_category_day"] + 1)
    assert len(after["rows"]) < len(before["rows"])
    refresh(lake_copy, full=True)
    assert orjson.loads(reader.answer("revenue_by_category", KpiFilters()))["rows"] == (
        before["rows"])


def test_a_table_not_built_yet_reads_as_empty(lake_copy: Lake) -> None:
    shutil.rmtree(lake_copy.path(Zone.CURATED, "kpi_new_vs_returning_day"))
    answer = orjson.loads(KpiReader(lake_copy).answer("new_vs_returning", KpiFilters()))
    assert answer["rows"] == []
    assert answer["as_of"]["kpi_new_vs_returning_day"] == -1


def test_an_empty_lake_has_no_periods_and_empty_answers(local_lake: Lake) -> None:
    reader = KpiReader(local_lake)
    overview = orjson.loads(reader.overview())
    assert overview["periods"] == [] and overview["categories"] == []
    assert orjson.loads(reader.answer("top_products", KpiFilters()))["rows"] == []


def test_the_periods_end_on_the_last_day_of_data(reader: KpiReader) -> None:
    overview = orjson.loads(reader.overview())
    last = SMALL_SHOP.start + timedelta(days=SMALL_SHOP.days - 1)
    assert overview["dates"] == {"first": str(SMALL_SHOP.start), "last": str(last)}
    assert [p["label"] for p in overview["periods"]] == ["Last 7 days", "October 2026",
                                                         "All time"]
    assert overview["periods"][0] == {"label": "Last 7 days",
                                      "from": str(last - timedelta(days=6)), "to": str(last)}


@pytest.mark.parametrize(("name", "filters", "where"), [
    ("nope", KpiFilters(), "path.name"),
    ("conversion_funnel", KpiFilters(category="Garden"), "query.category"),
    ("headline", KpiFilters(limit=3), "query.limit"),
    ("top_products", KpiFilters(limit=101), "query.limit"),
    ("top_products", KpiFilters(category="No such"), "query.category"),
    ("headline", KpiFilters(date(2026, 10, 5), date(2026, 10, 4)), "query.from"),
])
def test_what_cannot_be_answered_says_what_would_be(reader: KpiReader, name: str,
                                                    filters: KpiFilters, where: str) -> None:
    with pytest.raises(KpiError) as raised:
        reader.answer(name, filters)
    assert [w for w, _ in raised.value.problems] == [where]
    assert raised.value.valid


def test_dates_outside_the_data_answer_nothing_rather_than_fail(reader: KpiReader) -> None:
    answer = orjson.loads(reader.answer("revenue_by_category",
                                        KpiFilters(date(2001, 1, 1), date(2001, 1, 31))))
    assert answer["rows"] == []
    for first, last in ((date(1, 1, 1), date(1, 1, 1)), (date(1, 1, 2), date(9999, 12, 31))):
        headline = orjson.loads(reader.answer("headline", KpiFilters(first, last)))["rows"]
        assert {row["metric"]: row["previous"] for row in headline}["orders"] == 0


def test_a_table_removed_under_the_reader_is_not_a_server_error(lake_copy: Lake) -> None:
    reader = KpiReader(lake_copy)
    before = reader.answer("new_vs_returning", KpiFilters())
    shutil.rmtree(lake_copy.path(Zone.CURATED, "kpi_new_vs_returning_day"))
    assert reader.answer("new_vs_returning", KpiFilters()) == before  # what it last read


def test_kpis_on_an_azure_lake_follow_its_refreshes(azurite_lake: Lake, tmp_path: Path,
                                                    small_shop_days: tuple) -> None:
    fed = fed_shop(azurite_lake, *small_shop_days, tmp_path / "exports")
    fed.deliver(1, 2)
    refresh(azurite_lake)
    reader = KpiReader(azurite_lake)
    ever = KpiFilters(date(2000, 1, 1), date(2100, 1, 1))  # uploads count on the day they land
    first = orjson.loads(reader.answer("ingest_health", ever))
    days = orjson.loads(reader.answer("new_vs_returning", KpiFilters()))["rows"]
    assert len(days) == 2 and {r["source"] for r in first["rows"]} >= {"events", "order_lines"}
    fed.deliver(3, 3)
    refresh(azurite_lake)
    assert len(orjson.loads(reader.answer("new_vs_returning", KpiFilters()))["rows"]) == 3
    later = orjson.loads(reader.answer("ingest_health", ever))
    assert sum(r["records"] for r in later["rows"]) > sum(r["records"] for r in first["rows"])
