"""Storage faults at each write of a refresh, then a rerun, compared with a clean refresh.

The lake holds two refreshed days, and a third day, a changed customer list and a changed
catalogue not yet refreshed: the refresh rewrites date partitions, replaces whole tables,
merges the dimensions and lifetime values, saves its plan twice and moves the watermark.

- `refresh()` (what `shoplake refresh` runs) fails at each of its writes with `raise`;
  the rerun resumes the saved plan.
- The nightly run's refresh activities (plan, partition, dimensions, facts, KPIs), each
  retried once as the orchestration's retry policy does, fail at each of their writes
  with `raise`; with `zero` and `partial` at every file write (the plan, the partition
  marker, the watermark) and at the first table write and first merge, since a table
  write that fails leaves the same state wherever it is (no commit, and a data file that
  no commit names); with `hang` at the first write of each kind (plan, marker,
  watermark, table write, merge), where another writer must be refused while it hangs.

After the recovery: every refreshed table's rows equal the clean run's, the watermark too
(without its time and run id), no plan, marker or temporary file is left, the lake is
handed back, and raw/ is untouched.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from shared.lake import Lake
from shared.lease import LakeBusyError, LeasePolicy
from shared.warehouse.refresh import NoPlannedRefreshError
from tests.faults import scenarios
from tests.faults.inject import InjectedFault
from tests.faults.params import Fault, unwrap
from tests.faults.references import refresh_base, refresh_reference, steps_reference
from tests.support.shops import assert_same_tables, snapshot


@cache
def clean_tables(after: Path) -> dict[str, pa.Table]:
    return snapshot(Lake.open(str(after)))


@cache
def clean_raw() -> dict[str, bytes]:
    return scenarios.files(Lake.open(str(refresh_base())), "raw")


def assert_equals_clean(lake: Lake, after: Path) -> None:
    assert_same_tables(snapshot(lake), clean_tables(after))
    assert scenarios.watermark(lake) == scenarios.watermark(Lake.open(str(after)))
    scenarios.assert_refresh_finished(lake)
    assert scenarios.files(lake, "raw") == clean_raw()


def left_unnamed(lake: Lake, target: str, path: str | None) -> bool:
    """The data file a fault left in a table's folder is there, and the table's log does
    not name it."""
    live = {Path(uri.removeprefix("file://")).resolve()
            for uri in DeltaTable(scenarios.at(lake, target)).file_uris()}
    return path is not None and Path(path).exists() and Path(path).resolve() not in live


def test_refresh_recovers_from_a_storage_fault_at_each_write(
        refresh_fault: Any, refresh_lake: Lake, injected: Any) -> None:
    fault: Fault = unwrap(refresh_fault)
    watermark_before = scenarios.watermark(refresh_lake)
    injector = injected(fault.injector())

    error = injector.run(lambda: scenarios.run_refresh(refresh_lake))

    assert isinstance(error, InjectedFault), error
    assert injector.failed is not None and injector.failed.number == fault.write.number
    assert scenarios.watermark(refresh_lake) == watermark_before  # nothing recorded
    assert scenarios.lease(refresh_lake).run is None  # the failed run handed the lake back
    assert scenarios.temporary_files(refresh_lake) == []
    injector.fail_at = None

    rerun = scenarios.run_refresh(refresh_lake)

    assert rerun.resumed == (fault.write.number > 1)  # the plan is the first write
    assert_equals_clean(refresh_lake, refresh_reference().after)


def test_refresh_steps_recover_from_a_storage_fault_at_each_write(
        steps_fault: Any, refresh_lake: Lake, injected: Any) -> None:
    fault: Fault = unwrap(steps_fault)
    watermark_before = scenarios.watermark(refresh_lake)
    injector = injected(fault.injector())
    failures: list[BaseException] = []
    refused: list[LakeBusyError] = []
    looked: list[bool] = []

    def while_hung() -> None:
        # The stuck run keeps the lake: another writer is told it is busy.
        other = Lake.open(refresh_lake.url, lease_policy=LeasePolicy(wait_s=0))
        with pytest.raises(LakeBusyError) as busy, other.writer():
            pass
        refused.append(busy.value)

    def before_the_retry() -> None:
        looked.append(True)
        # The run keeps the lake for its retry; nothing half-written is visible.
        assert (scenarios.lease(refresh_lake).run or "").startswith("nightly-")
        assert scenarios.temporary_files(refresh_lake) == []
        if fault.kind in ("raise", "hang") or fault.write.is_table:
            assert scenarios.watermark(refresh_lake) == watermark_before
        if fault.write.is_table and fault.kind in ("zero", "partial"):
            assert left_unnamed(refresh_lake, fault.write.target, injector.left)
        elif fault.kind == "zero":  # (the target as written: a marker names this run)
            assert injector.failed is not None
            assert refresh_lake.read_bytes(scenarios.at(refresh_lake,
                                                        injector.failed.target)) == b""

    error = injector.run(lambda: scenarios.run_refresh_steps(
        refresh_lake, failures=failures, between=before_the_retry), while_hung)

    if isinstance(error, NoPlannedRefreshError):
        # The plan was left damaged: what the run had left to do is lost, so its steps
        # refuse (naming the file), and the next run plans a rebuild of everything.
        assert fault.kind in ("zero", "partial") and fault.write.target.endswith(
            "pending_plan.json"), error
        assert "pending_plan.json is damaged" in str(error)
        refresh_lake.release_writer(scenarios.lease(refresh_lake).run)  # the run ends
        scenarios.run_refresh_steps(refresh_lake)
        assert_equals_clean(refresh_lake, steps_reference().after)
        return
    if error is not None:  # the retried step failed too
        raise error
    assert [type(f) for f in failures] == [
        TimeoutError if fault.kind == "hang" else InjectedFault]
    assert looked == [True]
    assert injector.failed is not None and injector.failed.number == fault.write.number
    if fault.kind == "hang":
        assert len(refused) == 1 and "is being written by run nightly-" in str(refused[0])
    if fault.kind in ("zero", "partial") and fault.write.is_table:
        assert left_unnamed(refresh_lake, fault.write.target, injector.left)  # never read
    assert_equals_clean(refresh_lake, steps_reference().after)


def test_both_ways_of_refreshing_give_the_same_clean_result() -> None:
    """The two references agree, so every fault above is judged against the same tables."""
    refreshed, stepped = refresh_reference().after, steps_reference().after
    assert_same_tables(clean_tables(refreshed), clean_tables(stepped))
    assert scenarios.watermark(Lake.open(str(refreshed))) == scenarios.watermark(
        Lake.open(str(stepped)))
