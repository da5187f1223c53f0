"""KPI specs: one SQL file and one spec each, refused when they do not match."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.analytics import KPIS, load_kpis
from shared.analytics.specs import KPIS_FOLDER
from shared.settings import ConfigurationError

SPEC = """title = "T"
description = "D"
filters = ["from", "to"]
example = { day = "2026-01-01" }

[columns]
day = "The day."
"""


def write(folder: Path, sql: str, spec: str = SPEC) -> Path:
    (folder / "k.sql").write_text(sql)
    (folder / "k.toml").write_text(spec)
    return folder


def test_every_kpi_file_is_loaded() -> None:
    assert sorted(KPIS) == sorted(p.stem for p in KPIS_FOLDER.glob("*.sql"))


def test_a_valid_kpi_loads(tmp_path: Path) -> None:
    kpis = load_kpis(write(tmp_path, "SELECT order_date AS day FROM kpi_revenue_by_category_day"
                                     " WHERE order_date BETWEEN $date_from AND $date_to"))
    assert kpis["k"].reads == ("kpi_revenue_by_category_day",)
    assert kpis["k"].parameters == ("date_from", "date_to")


@pytest.mark.parametrize(("sql", "spec", "message"), [
    ("SELECT 1 AS day FROM kpi_top_products WHERE $date_from < $date_to AND $oops",
     SPEC, "unknown parameters"),
    ("SELECT 1 AS day FROM kpi_top_products", SPEC, "never uses"),
    ("SELECT 1 AS day WHERE $date_from < $date_to", SPEC, "reads no curated table"),
    ("SELECT 1", SPEC.replace('"to"]', '"to", "limit"]'), "limit"),
    ("SELECT 1", SPEC.replace('day = "2026', 'when = "2026'), "example row"),
])
def test_a_spec_that_does_not_match_its_sql_is_refused(tmp_path: Path, sql: str, spec: str,
                                                       message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_kpis(write(tmp_path, sql, spec))


def test_sql_without_a_spec_is_refused(tmp_path: Path) -> None:
    (tmp_path / "k.sql").write_text("SELECT 1")
    with pytest.raises(ConfigurationError, match=r"no k\.toml"):
        load_kpis(tmp_path)
