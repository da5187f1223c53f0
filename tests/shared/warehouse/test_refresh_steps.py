"""The refresh as separate steps (an orchestrator's activities) equals `refresh`."""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake.exceptions import CommitFailedError

import shared.warehouse as steps
from shared.lake import Lake, Zone
from shared.landed import Dataset, landed_files
from shared.warehouse.refresh import (
    NoPlannedRefreshError,
    PlannedRefresh,
    RefreshStepError,
    plan_refresh,
    refresh,
    refresh_dimensions,
    refresh_facts,
    refresh_kpis,
    refresh_partition,
)
from shared.warehouse.state import RefreshState
from tests.support.shops import FedShop, assert_same_tables, changed_catalogue, snapshot


def _run_steps(lake: Lake, *, full: bool = False) -> PlannedRefresh:
    """Every step in turn, the dates in a shuffled order."""
    planned = plan_refresh(lake, full=full)
    days = [date.fromisoformat(day) for day in planned.partitions]
    random.Random(7).shuffle(days)
    for day in days:
        refresh_partition(lake, day)
    refresh_dimensions(lake)
    refresh_facts(lake)
    refresh_kpis(lake)
    return planned


def _twin(tmp_path: Path, lake: Lake) -> Lake:
    """A copy of the lake, to refresh the other way."""
    shutil.copytree(lake.url, tmp_path / "twin")
    return Lake.open(str(tmp_path / "twin"))


def _new_day_and_dimensions(fed: FedShop) -> None:
    """Days 4-6, a product moved to another category, day 3's orders sent again corrected."""
    fed.deliver(4, 6)
    fed.feed.upload(changed_catalogue(fed), "shop_products", "products-v2.csv")
    resent = fed.days[2].orders
    quantities = resent["quantity"].to_pylist()
    quantities[0] += 1
    fed.feed.upload(resent.set_column(resent.schema.get_field_index("quantity"), "quantity",
                                      pa.array(quantities)),
                    "shop_orders", "orders-day3-corrected.csv")


@pytest.mark.parametrize("full", [False, True])
def test_steps_build_what_refresh_builds(tmp_path: Path, local_lake: Lake,
                                         fed_shop: Callable[[Lake], FedShop], full: bool) -> None:
    fed = fed_shop(local_lake)
    fed.deliver(1, 3)
    twin = _twin(tmp_path, local_lake)
    planned = _run_steps(local_lake, full=full)
    assert planned.full == full and not planned.resumed
    assert set(planned.partitions) >= {day.date.isoformat() for day in fed.days[:3]}
    assert json.loads(json.dumps(planned.to_json()))["partitions"] == planned.partitions
    refresh(twin, full=full)
    assert_same_tables(snapshot(twin), snapshot(local_lake))
    assert RefreshState(local_lake).pending_plan() is None


def test_steps_with_no_dates_create_the_processed_tables(tmp_path: Path, local_lake: Lake,
                                                        fed_shop: Callable[[Lake], FedShop]
                                                        ) -> None:
    fed_shop(local_lake)  # the catalogue only: no events, no orders yet
    twin = _twin(tmp_path, local_lake)
    assert _run_steps(local_lake).partitions == []
    refresh(twin)
    assert_same_tables(snapshot(twin), snapshot(local_lake))


def test_steps_after_changed_dimensions_equal_refresh(tmp_path: Path, local_lake: Lake,
                                                      fed_shop: Callable[[Lake], FedShop]
                                                      ) -> None:
    fed = fed_shop(local_lake)
    fed.deliver(1, 3)
    refresh(local_lake)
    _new_day_and_dimensions(fed)
    twin = _twin(tmp_path, local_lake)

    planned = plan_refresh(local_lake)
    days = [date.fromisoformat(day) for day in planned.partitions]
    random.Random(3).shuffle(days)
    for day in days:
        refresh_partition(local_lake, day)
    assert {t.table: t.action for t in refresh_dimensions(local_lake)}["dim_product"] == "merged"
    facts = {t.table: t.partitions for t in refresh_facts(local_lake)}
    # The moved product's sales on other days were added to the plan by the dimensions step.
    assert facts["fact_sales"] > len(days)
    refresh_kpis(local_lake)

    refresh(twin)
    assert_same_tables(snapshot(twin), snapshot(local_lake))


def test_rerun_steps_give_the_same_tables(tmp_path: Path, local_lake: Lake,
                                          fed_shop: Callable[[Lake], FedShop],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fed = fed_shop(local_lake)
    fed.deliver(1, 3)
    refresh(local_lake)
    _new_day_and_dimensions(fed)
    twin = _twin(tmp_path, local_lake)

    for day in plan_refresh(local_lake).partitions:
        refresh_partition(local_lake, date.fromisoformat(day))
        refresh_partition(local_lake, date.fromisoformat(day))
    for step in (refresh_dimensions, refresh_dimensions, refresh_facts, refresh_facts):
        step(local_lake)
    # The last step fails at its very end (KPIs and watermark written), then is retried.
    clear = RefreshState.clear_pending_plan
    monkeypatch.setattr(RefreshState, "clear_pending_plan", _fail)
    with pytest.raises(OSError):
        refresh_kpis(local_lake)
    monkeypatch.setattr(RefreshState, "clear_pending_plan", clear)
    refresh_kpis(local_lake)

    refresh(twin)
    assert_same_tables(snapshot(twin), snapshot(local_lake))


def _fail(state: RefreshState) -> None:
    raise OSError("the host went away")


def test_files_landing_during_the_steps_wait_for_the_next_refresh(
        local_lake: Lake, fed_shop: Callable[[Lake], FedShop]) -> None:
    fed = fed_shop(local_lake)
    fed.deliver(1, 3)
    refresh(local_lake)
    fed.deliver(4, 4)
    planned = plan_refresh(local_lake)
    listed = RefreshState(local_lake).pending_plan().snapshot
    day4, day5 = fed.days[3].date, fed.days[4].date
    assert day4.isoformat() in planned.partitions

    fed.deliver(5, 5)  # a new day (events, orders, customers) and, for a planned date,
    fed.feed.events(fed.days[3])  # its events again: new files, the same events
    for day in planned.partitions:
        refresh_partition(local_lake, date.fromisoformat(day))
    refresh_dimensions(local_lake)
    refresh_facts(local_lake)
    refresh_kpis(local_lake)

    # The watermark is the listing the plan was computed from.
    watermark = RefreshState(local_lake).watermark()
    assert watermark.landed == listed.landed
    assert set(landed_files(local_lake, Dataset.ORDER_LINES)) > set(listed.landed["order_lines"])
    assert sorted(watermark.event_partitions) == sorted(listed.event_files)
    assert day5.isoformat() not in watermark.event_partitions
    assert day5 not in _days(local_lake)
    # What landed meanwhile is new to the next refresh, and nothing else is.
    following = refresh(local_lake)
    rebuilt = {t.table: t.partitions for t in following.tables}
    assert rebuilt["events"] == 2  # day 5, and day 4's new files
    assert _days(local_lake)[-1] == day5
    after = snapshot(local_lake)
    refresh(local_lake, full=True)
    assert_same_tables(after, snapshot(local_lake))


def test_steps_need_a_plan_and_the_steps_before_them(local_lake: Lake,
                                                      fed_shop: Callable[[Lake], FedShop]
                                                      ) -> None:
    fed = fed_shop(local_lake)
    fed.deliver(1, 2)
    first = fed.days[0].date
    for step in (lambda lake: refresh_partition(lake, first), refresh_dimensions,
                 refresh_facts, refresh_kpis):
        with pytest.raises(NoPlannedRefreshError, match="run plan_refresh first"):
            step(local_lake)

    planned = plan_refresh(local_lake)
    with pytest.raises(RefreshStepError, match="not a date of the planned refresh"):
        refresh_partition(local_lake, date(2020, 1, 1))
    refresh_partition(local_lake, date.fromisoformat(planned.partitions[0]))
    with pytest.raises(RefreshStepError,
                       match=f"run refresh_partition first for .*{planned.partitions[-1]}"):
        refresh_dimensions(local_lake)
    with pytest.raises(RefreshStepError, match="run refresh_dimensions first"):
        refresh_facts(local_lake)
    with pytest.raises(RefreshStepError, match="run refresh_facts first"):
        refresh_kpis(local_lake)


def test_refresh_finishes_interrupted_steps(tmp_path: Path, local_lake: Lake,
                                            fed_shop: Callable[[Lake], FedShop]) -> None:
    fed = fed_shop(local_lake)
    fed.deliver(1, 3)
    refresh(local_lake)
    _new_day_and_dimensions(fed)
    twin = _twin(tmp_path, local_lake)
    planned = plan_refresh(local_lake)
    refresh_partition(local_lake, date.fromisoformat(planned.partitions[0]))
    assert plan_refresh(local_lake).resumed  # planning again keeps the interrupted plan

    assert refresh(local_lake).resumed
    refresh(twin)
    assert_same_tables(snapshot(twin), snapshot(local_lake))
    assert not local_lake.list_files(local_lake.path(Zone.STATE, "refresh", "partitions"))


@pytest.mark.parametrize("full", [False, True])
def test_partitions_whose_files_vanished_are_emptied(tmp_path: Path, local_lake: Lake,
                                                     fed_shop: Callable[[Lake], FedShop],
                                                     full: bool) -> None:
    fed = fed_shop(local_lake)
    fed.deliver(1, 3)
    refresh(local_lake)
    gone = fed.days[1].date
    shutil.rmtree(local_lake.path(Zone.RAW, "events", f"event_date={gone.isoformat()}"))
    twin = _twin(tmp_path, local_lake)

    assert gone.isoformat() in _run_steps(local_lake, full=full).partitions
    refresh(twin, full=full)
    assert_same_tables(snapshot(twin), snapshot(local_lake))
    assert gone not in _days(local_lake)


def test_a_date_losing_the_race_to_create_a_table_writes_into_it(
        tmp_path: Path, local_lake: Lake, fed_shop: Callable[[Lake], FedShop],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fed_shop(local_lake).deliver(1, 2)
    twin = _twin(tmp_path, local_lake)
    first, second, *_ = plan_refresh(local_lake).partitions
    write = Lake.write_table

    def losing(lake: Lake, *args: object, **kwargs: object) -> None:
        monkeypatch.setattr(Lake, "write_table", write)
        refresh_partition(lake, date.fromisoformat(second))  # creates the tables meanwhile
        raise CommitFailedError("Failed to commit transaction: Metadata changed")

    monkeypatch.setattr(Lake, "write_table", losing)
    assert [t.table for t in refresh_partition(local_lake, date.fromisoformat(first))] == [
        "events", "order_lines"]
    for step in (refresh_dimensions, refresh_facts, refresh_kpis):
        step(local_lake)
    refresh(twin)
    assert_same_tables(snapshot(twin), snapshot(local_lake))


@pytest.mark.slow
def test_steps_in_processes_of_their_own_with_dates_in_parallel(
        tmp_path: Path, local_lake: Lake, fed_shop: Callable[[Lake], FedShop]) -> None:
    fed_shop(local_lake).deliver(1, 4)
    twin = _twin(tmp_path, local_lake)
    with ProcessPoolExecutor(max_workers=4, mp_context=get_context("spawn")) as pool:
        list(pool.map(_busy, [1.0] * 4))  # four workers started, their imports done
        planned = pool.submit(_step, local_lake.url, "plan_refresh").result()
        # The first dates may race to create the processed tables, the others to commit.
        for result in [pool.submit(_step, local_lake.url, "refresh_partition", day)
                       for day in planned.partitions]:
            assert [t.partitions for t in result.result()] == [1, 1]
        for step in ("refresh_dimensions", "refresh_facts", "refresh_kpis"):
            pool.submit(_step, local_lake.url, step).result()
    refresh(twin)
    assert_same_tables(snapshot(twin), snapshot(local_lake))


def _step(lake_url: str, name: str, *days: str) -> object:
    """One step in a worker process, on the lake at `lake_url`."""
    return getattr(steps, name)(Lake.open(lake_url), *map(date.fromisoformat, days))


def _busy(seconds: float) -> None:
    time.sleep(seconds)


def _days(lake: Lake) -> list[date]:
    """The dates of processed events, in order."""
    events = lake.table(Zone.PROCESSED, "events").to_pyarrow_table(columns=["event_date"])
    return sorted(set(events["event_date"].to_pylist()))


@pytest.mark.azurite
def test_steps_on_azurite_match_refresh_on_the_local_lake(
        azurite_lake: Lake, local_lake: Lake, fed_shop: Callable[[Lake], FedShop]) -> None:
    for lake in (azurite_lake, local_lake):
        fed_shop(lake).deliver(1, 2)
    _run_steps(azurite_lake)
    refresh(local_lake)
    assert_same_tables(snapshot(local_lake), snapshot(azurite_lake))
    assert not azurite_lake.list_files(azurite_lake.path(Zone.STATE, "refresh", "partitions"))


def test_the_last_step_retried_after_it_finished_is_a_no_op(
        local_lake: Lake, fed_shop: Callable[[Lake], FedShop]) -> None:
    fed_shop(local_lake).deliver(1, 2)
    planned = _run_steps(local_lake)
    before = snapshot(local_lake)

    # An activity whose answer was lost is run again with its plan's run id.
    assert refresh_kpis(local_lake, planned.run_id) == []
    assert_same_tables(snapshot(local_lake), before)
    with pytest.raises(NoPlannedRefreshError, match="run plan_refresh first"):
        refresh_kpis(local_lake, "another-run")


OLD_FORMAT_PLAN = {"full": False, "event_dates": ["2026-10-02"], "order_dates": [],
                   "changed_datasets": [], "sales_dates": [], "product_event_dates": [],
                   "dims_changed": False, "product_ids": [], "customer_ids": [],
                   "run_id": "old", "calendar": None, "facts_done": False}
"""A pending plan as the previous version of the refresh saved it."""


def test_a_plan_saved_by_an_older_version_is_redone_whole_never_stepped_through(
        tmp_path: Path, local_lake: Lake, fed_shop: Callable[[Lake], FedShop]) -> None:
    fed = fed_shop(local_lake)
    fed.deliver(1, 2)
    refresh(local_lake)
    before = snapshot(local_lake)
    pending = local_lake.path(Zone.STATE, "refresh", "pending_plan.json")
    local_lake.write_bytes(pending, json.dumps(OLD_FORMAT_PLAN).encode())
    for step in (refresh_dimensions, refresh_facts, refresh_kpis):
        with pytest.raises(NoPlannedRefreshError, match="run plan_refresh first"):
            step(local_lake)
    assert_same_tables(snapshot(local_lake), before)
    result = refresh(local_lake)
    assert (result.full, result.resumed) == (True, True)
    assert_same_tables(snapshot(local_lake), before)


def test_deleted_tables_are_rebuilt_whole_by_the_next_refresh(
        tmp_path: Path, local_lake: Lake, fed_shop: Callable[[Lake], FedShop]) -> None:
    fed_shop(local_lake).deliver(1, 3)
    refresh(local_lake)
    before = snapshot(local_lake)
    for zone, table in ((Zone.PROCESSED, "events"), (Zone.CURATED, "fact_events")):
        shutil.rmtree(local_lake.path(zone, table))
    refresh(local_lake)
    assert_same_tables(snapshot(local_lake), before)
