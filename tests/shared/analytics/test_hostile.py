"""Adversarial tests of the KPI reader and the ingest log: damaged records and tables, a
table rebuilt under the reader, data at the ends of the calendar, many filters, and a
refresh running while requests are answered."""

from __future__ import annotations

import contextlib
import shutil
import threading
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from deltalake import DeltaTable, write_deltalake

from shared.analytics import IngestLog, KpiError, KpiFilters, KpiReader
from shared.analytics.reader import periods
from shared.lake import Lake, Zone
from shared.simulator import simulate_shop
from shared.warehouse import refresh
from tests.support.shops import SMALL_SHOP, fed_shop

EVER = KpiFilters(date(2000, 1, 1), date(2100, 1, 1))
NEW_VS_RETURNING = "kpi_new_vs_returning_day"
DEFAULTS = KpiFilters()


def _answer(reader: KpiReader, name: str, filters: KpiFilters = DEFAULTS) -> dict[str, Any]:
    return orjson.loads(reader.answer(name, filters))


def _ingest_totals(reader: KpiReader) -> dict[tuple[str, str, str], int]:
    return {(row["received_date"], row["source"], row["outcome"]): row["records"]
            for row in _answer(reader, "ingest_health", EVER)["rows"]}


def _table_path(lake: Lake, name: str) -> Path:
    return Path(lake.path(Zone.CURATED, name))


# -- the ingest log: records with the wrong types ---------------------------------------------

@pytest.mark.parametrize("record", [
    pytest.param({"landed": True, "reasons": {}}, id="landed-is-a-bool"),
    pytest.param({"landed": 0, "reasons": {"bad_json": True}}, id="reason-count-is-a-bool"),
    pytest.param({"landed": -5, "reasons": {}}, id="negative-landed"),
    pytest.param({"landed": 0, "reasons": {"bad_json": -3}}, id="negative-reason-count"),
    pytest.param({"landed": 2**64 - 1, "reasons": {}}, id="count-beyond-int64"),
    pytest.param({"landed": 2**63 - 1, "reasons": {}}, id="count-whose-sum-overflows"),
])
def test_a_record_with_impossible_counts_is_left_out(lake_copy: Lake,
                                                     record: dict[str, Any]) -> None:
    """Booleans, negative counts, counts past int64 or whose sum overflows
    are not counts: the record is left out, the others still count."""
    reader = KpiReader(lake_copy)
    before = _ingest_totals(reader)
    lake_copy.write_bytes(lake_copy.path(Zone.STATE, "ingest", "events", "zz-damaged.json"),
                          orjson.dumps({"received_date": "2026-10-03", **record}))
    assert _ingest_totals(reader) == before


@pytest.mark.parametrize("files", [5, None, True], ids=["int", "null", "bool"])
def test_a_record_whose_files_are_not_a_list_is_left_out(lake_copy: Lake, files: object) -> None:
    """A record without `received_date` takes its day from `files`; `files` that is not a
    list gives no day, and the record is left out."""
    reader = KpiReader(lake_copy)
    before = _ingest_totals(reader)
    lake_copy.write_bytes(lake_copy.path(Zone.STATE, "ingest", "events", "zz-files.json"),
                          orjson.dumps({"landed": 5, "reasons": {}, "files": files}))
    assert _ingest_totals(reader) == before


def test_a_bogus_landed_at_leaves_the_upload_out(lake_copy: Lake) -> None:
    reader = KpiReader(lake_copy)
    before = _ingest_totals(reader)
    for name, landed_at in [("a", "yesterday"), ("b", 12345), ("c", "2026-13-45T00:00:00"),
                            ("d", None)]:
        lake_copy.write_bytes(
            lake_copy.path(Zone.STATE, "ingest", "batch", f"zz-{name}.json"),
            orjson.dumps({"status": "landed", "dataset": "products", "landed": 3,
                          "reasons": {}, "landed_at": landed_at}))
    assert _ingest_totals(reader) == before


def test_only_the_changed_record_is_read_again(lake_copy: Lake,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    log = IngestLog(lake_copy)
    log.table()
    reads: list[str] = []
    read_bytes = lake_copy.read_bytes
    monkeypatch.setattr(lake_copy, "read_bytes", lambda path: reads.append(path) or
                        read_bytes(path))
    log.table()
    assert reads == []
    folder = lake_copy.path(Zone.STATE, "ingest", "events")
    some = lake_copy.list_files(folder, ".json")[0]
    record = orjson.loads(read_bytes(some))
    lake_copy.write_bytes(some, orjson.dumps({**record, "landed": record["landed"] + 1}))
    lake_copy.write_bytes(f"{folder}/zz-new.json", orjson.dumps(
        {"received_date": "2026-10-02", "landed": 7, "reasons": {}}))
    log.table()
    assert sorted(reads) == sorted([some, f"{folder}/zz-new.json"])


# -- damaged or replaced Delta tables --------------------------------------------------------

def _corrupt_next_commit(lake: Lake, name: str) -> None:
    log = _table_path(lake, name) / "_delta_log"
    latest = max(int(p.stem) for p in log.glob("*.json"))
    (log / f"{latest + 1:020d}.json").write_text("{not json")


def test_a_corrupt_latest_commit_serves_what_was_last_read(lake_copy: Lake) -> None:
    """A corrupt latest commit: the reader keeps answering from what it
    read last."""
    reader = KpiReader(lake_copy)
    before = reader.answer("new_vs_returning", KpiFilters())
    _corrupt_next_commit(lake_copy, NEW_VS_RETURNING)
    assert reader.answer("new_vs_returning", KpiFilters()) == before


@pytest.mark.parametrize("damage", ["corrupt-commit", "data-file-missing", "folder-is-a-file"])
def test_a_damaged_table_does_not_fail_a_new_reader(lake_copy: Lake, damage: str) -> None:
    """A reader opening a damaged table should answer (as for a missing table: no rows,
    version -1) or refuse with a KpiError, never raise DeltaError / duckdb errors."""
    path = _table_path(lake_copy, NEW_VS_RETURNING)
    if damage == "corrupt-commit":
        _corrupt_next_commit(lake_copy, NEW_VS_RETURNING)
    elif damage == "data-file-missing":
        next(path.rglob("*.parquet")).unlink()
    else:
        shutil.rmtree(path)
        path.write_text("not a table")
    reader = KpiReader(lake_copy)
    for name in ("new_vs_returning", "headline"):
        with contextlib.suppress(KpiError):
            reader.answer(name, KpiFilters())


def test_a_table_written_without_a_column_answers_it_as_null(lake_copy: Lake) -> None:
    """A table written by an older version, without a column the KPI
    selects: loaded through the catalog's schema, the column reads as null."""
    path = _table_path(lake_copy, NEW_VS_RETURNING)
    old = DeltaTable(str(path)).to_pyarrow_table().drop_columns(["guest_revenue"])
    write_deltalake(str(path), old, mode="overwrite", schema_mode="overwrite")
    rows = _answer(KpiReader(lake_copy), "new_vs_returning")["rows"]
    assert len(rows) == old.num_rows
    assert {row["guest_revenue"] for row in rows} == {None}


def test_a_table_rebuilt_from_scratch_is_read_anew(lake_copy: Lake) -> None:
    """A table removed and written again (versions 0, 1, 2) under an open
    reader: the reader notices the log no longer fits its files and reads the table anew."""
    reader = KpiReader(lake_copy)
    assert len(_answer(reader, "new_vs_returning")["rows"]) == 8
    path = _table_path(lake_copy, NEW_VS_RETURNING)
    rows = DeltaTable(str(path)).to_pyarrow_table().sort_by("order_date")
    shutil.rmtree(path)
    write_deltalake(str(path), rows.slice(0, 1))
    write_deltalake(str(path), rows.slice(1, 1), mode="append")
    write_deltalake(str(path), rows.slice(2, 1), mode="append")
    answer = _answer(reader, "new_vs_returning")
    assert answer["as_of"][NEW_VS_RETURNING] == 2
    assert [row["order_date"] for row in answer["rows"]] == [
        str(day) for day in rows["order_date"].to_pylist()[:3]]


def test_an_empty_date_dimension_answers_empty(lake_copy: Lake) -> None:
    lake_copy.table(Zone.CURATED, "dim_date").delete()
    reader = KpiReader(lake_copy)
    overview = orjson.loads(reader.overview())
    assert overview["periods"] == [] and overview["dates"] == {"first": None, "last": None}
    assert _answer(reader, "top_products")["rows"] == []


# -- the ends of the calendar ---------------------------------------------------------------

@pytest.mark.parametrize(("first", "last"), [("9999-11-20", "9999-12-31"),
                                             ("0001-01-01", "0001-02-10")])
def test_periods_at_the_ends_of_the_calendar(first: str, last: str) -> None:
    """Periods are listed for data at the ends of the calendar (no
    overflow stepping past December 9999 or before January of year 1)."""
    found = periods({"first": first, "last": last})
    assert found[-1] == {"label": "All time", "from": first, "to": last}


# -- the answer cache -----------------------------------------------------------------------

def test_the_answer_cache_stays_bounded_and_keeps_the_recent(kpi_lake: Lake) -> None:
    reader = KpiReader(kpi_lake, cached_answers=4)
    ranges = [KpiFilters(date(2026, 10, 1), date(2026, 10, day)) for day in range(1, 9)]
    answers = [reader.answer("revenue_by_category", f) for f in ranges]
    assert len(reader._answers) == 4
    assert reader.answer("revenue_by_category", ranges[-1]) is answers[-1]
    assert reader.answer("revenue_by_category", ranges[0]) is not answers[0]  # recomputed
    assert reader.answer("revenue_by_category", ranges[0]) == answers[0]


# -- a refresh while requests are answered -------------------------------------------------

def test_answers_during_a_refresh_agree_with_their_versions(tmp_path: Path) -> None:
    shop = simulate_shop(SMALL_SHOP)
    lake = Lake.open(str(tmp_path / "lake"))
    fed = fed_shop(lake, shop, list(shop.days()), tmp_path / "exports")
    fed.deliver(1, 4)
    refresh(lake)
    reader = KpiReader(lake)
    old_version = lake.table(Zone.CURATED, NEW_VS_RETURNING).version()
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def ask(name: str) -> None:
        while not done.is_set():
            try:
                answers.append(_answer(reader, name))
            except BaseException as error:  # any failure is the finding
                errors.append(error)

    askers = [threading.Thread(target=ask, args=(name,)) for name in
              ("new_vs_returning", "headline", "ingest_health", "revenue_by_category") * 2]
    for thread in askers:
        thread.start()
    try:
        fed.deliver(5, 8)
        refresh(lake)
    finally:
        done.set()
        for thread in askers:
            thread.join()
    assert errors == []
    path = str(_table_path(lake, NEW_VS_RETURNING))
    days: dict[int, list[str]] = {}
    for answer in answers:
        if answer["kpi"] != "new_vs_returning":
            continue
        version = answer["as_of"][NEW_VS_RETURNING]
        if version not in days:
            days[version] = sorted(str(d) for d in DeltaTable(path, version=version)
                                   .to_pyarrow_table()["order_date"].to_pylist())
        expected = [d for d in days[version]
                    if answer["filters"]["from"] <= d <= answer["filters"]["to"]]
        assert [row["order_date"] for row in answer["rows"]] == expected
    assert old_version in days  # the askers ran while the refresh did
    latest = _answer(reader, "new_vs_returning")
    assert latest["as_of"][NEW_VS_RETURNING] > old_version and len(latest["rows"]) == 8


def test_a_version_whose_files_cannot_be_read_keeps_the_last_one(lake_copy: Lake) -> None:
    """A new version whose data file is missing: the rows read before stay, for new filters
    too (not an emptied table beside answers cached from the old one)."""
    reader = KpiReader(lake_copy)
    before = _answer(reader, "new_vs_returning")["rows"]
    path = _table_path(lake_copy, NEW_VS_RETURNING)
    table = DeltaTable(str(path))
    write_deltalake(str(path), table.to_pyarrow_table(), mode="overwrite")
    live = {Path(uri).name for uri in DeltaTable(str(path)).file_uris()}
    next(f for f in path.rglob("*.parquet") if f.name in live).unlink()
    first = date.fromisoformat(before[1]["order_date"])
    rows = _answer(reader, "new_vs_returning", KpiFilters(first, first))["rows"]
    assert rows == [before[1]]
