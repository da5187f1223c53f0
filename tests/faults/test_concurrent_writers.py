"""Writers at the same time: two refreshes, the nightly run and a refresh, a refresh and an
ingest, and two processes racing to create and replace the same Delta tables."""

from __future__ import annotations

import multiprocessing
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pytest

from model.registry import Registry
from shared.lake import Lake, Zone
from shared.warehouse.refresh import refresh
from tests.faults import scenarios
from tests.faults.processes import Finished, finish, logged_writes, run_all, start
from tests.faults.racers import race, rows
from tests.faults.references import first_refresh_reference, unrefreshed_base
from tests.support.shops import assert_same_tables, snapshot

BUSY = 75

pytestmark = pytest.mark.slow


def assert_outcomes(finished: list[Finished]) -> None:
    """Each run finished, or (at most one) found the lake busy and said so."""
    codes = sorted(f.returncode for f in finished)
    assert codes in ([0, 0], [0, BUSY]), [(f.returncode, f.stderr[-1500:]) for f in finished]
    for f in finished:
        if f.returncode == BUSY:
            assert "lake busy" in f.stderr and "is being written by run" in f.stderr


def assert_refreshed_cleanly(lake: Lake, clean: Lake) -> None:
    assert_same_tables(snapshot(lake), snapshot(clean))
    assert scenarios.watermark(lake) == scenarios.watermark(clean)
    assert scenarios.no_duplicate_events(lake)
    scenarios.assert_refresh_finished(lake)


@pytest.mark.parametrize("wait_s", ["30", "30", "0"])
def test_two_refreshes_started_together_on_a_new_lake_refresh_it_once(
        tmp_path: Path, wait_s: str) -> None:
    """Before the lease, two refreshes of a never-refreshed lake doubled 28 of 60 dates
    in processed/events. Three trials: the second refresh waits for the first and finds
    nothing left to do, or (waiting 0 s) exits 75 naming the holder."""
    shutil.copytree(unrefreshed_base(), tmp_path / "lake")
    options = {"wrapped": False, "LAKE_LEASE_WAIT_SECONDS": wait_s}

    finished = run_all([(["refresh", "--json"], tmp_path / "lake", options)] * 2)

    assert_outcomes(finished)
    assert_refreshed_cleanly(Lake.open(str(tmp_path / "lake")),
                             Lake.open(str(first_refresh_reference().after)))


def test_the_nightly_run_and_a_refresh_at_once(tmp_path: Path) -> None:
    """Whichever takes the lake first, the other waits (or exits 75): the tables are
    those of one clean refresh, and the nightly run's model is registered and promoted."""
    shutil.copytree(unrefreshed_base(), tmp_path / "lake")
    options = {"wrapped": False}

    finished = run_all([(["nightly", "--json"], tmp_path / "lake", options),
                        (["refresh", "--json"], tmp_path / "lake", options)])

    assert_outcomes(finished)
    lake = Lake.open(str(tmp_path / "lake"))
    assert_refreshed_cleanly(lake, Lake.open(str(first_refresh_reference().after)))
    registry = Registry(lake)
    if finished[0].returncode == 0:
        assert registry.champion() in registry.versions()


def test_events_ingested_while_a_refresh_runs_are_refreshed_by_the_next_one(
        tmp_path: Path) -> None:
    """Ingest takes no lease. The third day's events, orders and the customer list land
    while a refresh runs (after it saved its plan); a second refresh then gives the tables
    of one clean refresh of everything that landed."""
    lake = Lake.open(str(tmp_path / "lake"))
    feed = scenarios.deliver_unrefreshed(lake, tmp_path / "exports", days=2)
    log = tmp_path / "refresh.log"
    running = start(["refresh", "--json"], tmp_path / "lake", log=log)
    while not logged_writes(log) and running.poll() is None:
        time.sleep(0.05)  # until the refresh has planned

    scenarios.deliver_rest(feed, days=2)

    first = finish(running)
    assert first.returncode == 0, first.stderr
    refresh(lake)
    # The same landed files, refreshed once by a refresh that ran alone:
    clean = Lake.open(str(tmp_path / "clean"))
    shutil.copytree(Path(lake.url) / Zone.RAW.value, tmp_path / "clean" / Zone.RAW.value)
    refresh(clean)
    delivered_at_once = Lake.open(str(unrefreshed_base()))
    assert scenarios.files(lake, "raw/events") == scenarios.files(delivered_at_once, "raw/events")
    assert scenarios.files(lake, "raw").keys() == scenarios.files(delivered_at_once, "raw").keys()
    assert_refreshed_cleanly(lake, clean)


# -- racing Delta writers -----------------------------------------------------------------------

TRIALS = 24


def test_processes_racing_to_create_and_replace_a_table_never_write_it_twice(
        tmp_path: Path) -> None:
    """Two processes, released together by a barrier, 24 times: both create the same
    missing table with a whole-table replace; both replace it whole from the version they
    both opened; both create a partitioned table, each writing its own date. A table
    replaced by both holds one side's rows, never both; the partitioned table holds each
    side's date once. Every whole replace from the shared version conflicts for one side
    (which retries from the latest version) instead of adding a second copy."""
    lake = Lake.open(str(tmp_path / "lake"))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2, timeout=120)
    report = context.Queue()
    racers = [context.Process(target=race, args=(lake.url, side, TRIALS, barrier, report))
              for side in ("a", "b")]
    for racer in racers:
        racer.start()
    results = [report.get(timeout=240) for _ in racers]
    for racer in racers:
        racer.join(60)
    errors = [error for _, _, error in results if error]
    assert not errors, errors[0]
    conflicts = {side: counts for side, counts, _ in results}

    for trial in range(TRIALS):
        race_rows = sort(lake.table(Zone.PROCESSED, f"race_{trial}").to_pyarrow_table())
        assert race_rows in (sort(rows("a", trial, "replace")), sort(rows("b", trial, "replace")))
        dates = sort(lake.table(Zone.PROCESSED, f"dates_{trial}").to_pyarrow_table())
        assert dates == sort(pa.concat_tables([rows("a", trial, "dates"),
                                               rows("b", trial, "dates")]))
    # The race was real: from a version both had opened, one side's replace always lost.
    assert conflicts["a"]["replace"] + conflicts["b"]["replace"] >= TRIALS


def sort(table: pa.Table) -> list[dict]:
    return scenarios.sort_rows(table.select(["key", "side", "day"])).to_pylist()
