"""The lake's writer lease, on local disk and on Azurite, with real processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared import lease
from shared.lake import Lake, Zone
from shared.lease import (
    LakeBusyError,
    LeaseLostError,
    LeasePolicy,
    LeaseRecord,
    lease_path,
)

QUICK = LeasePolicy(ttl_s=1.5, wait_s=0.0, keep_s=30.0)


def open_lake(url: str, connection_string: str | None, policy: LeasePolicy) -> Lake:
    return Lake.open(url, connection_string=connection_string, lease_policy=policy)


def hold_in_child(url: str, connection_string: str | None, run: str | None,
                  ready: multiprocessing.synchronize.Event, policy: LeasePolicy) -> None:
    """A writer in another process: takes the lease, says so, then holds it until killed."""
    lake = open_lake(url, connection_string, policy)
    with lake.writer(run):
        ready.set()
        time.sleep(600)


@pytest.fixture
def child_writer(any_lake: Lake, request: pytest.FixtureRequest
                 ) -> Iterator[tuple[Lake, multiprocessing.Process]]:
    """`any_lake` and a started process holding its writer lease (run `child-run`)."""
    connection = None if any_lake.local else request.getfixturevalue("azurite").connection_string
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=hold_in_child,
                              args=(any_lake.url, connection, "child-run", ready, QUICK))
    process.start()
    assert ready.wait(60), "the child never took the lease"
    yield any_lake, process
    if process.is_alive():
        process.kill()
    process.join()


def lake_with(lake: Lake, policy: LeasePolicy) -> Lake:
    lake.lease_policy = policy
    return lake


def record(lake: Lake) -> LeaseRecord:
    return LeaseRecord.parse(lake.read_versioned(lease_path(lake)).data)


def test_a_second_run_is_refused_with_who_holds_the_lake(child_writer) -> None:
    lake, process = child_writer
    lake = lake_with(lake, QUICK)

    with pytest.raises(LakeBusyError) as refused, lake.writer():
        pass

    message = str(refused.value)
    assert "run child-run" in message and "since" in message
    assert f"/{process.pid}" in message  # host/pid of the holder


def test_a_second_run_waits_until_the_holder_is_gone(child_writer) -> None:
    lake, process = child_writer
    lake = lake_with(lake, LeasePolicy(ttl_s=1.5, wait_s=30.0, keep_s=30.0))
    killer = multiprocessing.get_context("spawn").Process(
        target=_kill_later, args=(process.pid, 1.0))
    killer.start()

    started = time.monotonic()
    with lake.writer() as run:
        assert record(lake).run == run
    killer.join()
    assert time.monotonic() - started < 30  # it did not give up


def _kill_later(pid: int, delay_s: float) -> None:
    time.sleep(delay_s)
    os.kill(pid, signal.SIGKILL)


def test_a_killed_holder_loses_the_lake(child_writer) -> None:
    lake, process = child_writer
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    # Locally a dead process is seen at once; on Azure its entry expires (ttl 1.5 s).
    lake = lake_with(lake, LeasePolicy(ttl_s=1.5, wait_s=10.0, keep_s=30.0))

    with lake.writer() as run:
        assert record(lake).run == run


def test_steps_of_one_run_share_the_lake_across_processes(child_writer) -> None:
    lake, process = child_writer
    lake = lake_with(lake, QUICK)

    with lake.writer("child-run"):
        holders = record(lake).holders
    assert len(holders) == 2 and any(h.endswith(f"/{process.pid}") for h in holders)
    # The child still holds it for its run: another run is refused.
    with pytest.raises(LakeBusyError), lake.writer():
        pass


def test_a_run_keeps_the_lake_between_steps_until_released(local_lake: Lake) -> None:
    lake = lake_with(local_lake, QUICK)
    with lake.writer("nightly-1"):
        pass
    assert record(lake).run == "nightly-1"  # kept: more steps follow
    with pytest.raises(LakeBusyError, match="between its steps"), lake.writer():
        pass

    assert lake.release_writer("nightly-1")

    assert record(lake).run is None
    with lake.writer():
        pass
    assert not lake.release_writer("nightly-1")  # already over


def test_a_run_of_its_own_hands_the_lake_back_even_when_it_fails(any_lake: Lake) -> None:
    lake = lake_with(any_lake, QUICK)
    with pytest.raises(RuntimeError, match="step failed"), lake.writer():
        raise RuntimeError("step failed")

    assert record(lake).run is None


def test_nested_blocks_join_the_enclosing_run(local_lake: Lake) -> None:
    lake = lake_with(local_lake, QUICK)
    with lake.writer("nightly-2") as outer, lake.writer() as inner:
        assert inner == outer == "nightly-2"
        assert len(record(lake).holders) == 1
    lake.release_writer("nightly-2")


def test_the_holder_renews_its_entry_while_it_runs(local_lake: Lake) -> None:
    lake = lake_with(local_lake, LeasePolicy(ttl_s=0.6, wait_s=0.0, keep_s=0.0))
    with lake.writer():
        first = max(record(lake).holders.values())
        time.sleep(1.5)  # more than the lease time: only renewals keep it
        assert max(record(lake).holders.values()) > first
        assert record(lake).held(time.time())


def test_a_paused_holder_that_lost_the_lake_stops_before_its_next_write(
        local_lake: Lake, tmp_path: Path) -> None:
    """A holder frozen beyond its lease time (SIGSTOP: a VM pause, a long GC) finds the
    lake taken when it wakes, and its next table write raises instead of interleaving."""
    context = multiprocessing.get_context("spawn")
    ready, go = context.Event(), context.Event()
    outcome = tmp_path / "outcome"
    process = context.Process(target=_write_after_pause, args=(local_lake.url, ready, go,
                                                               str(outcome)))
    process.start()
    try:
        assert ready.wait(60)
        os.kill(process.pid, signal.SIGSTOP)
        time.sleep(1.5)  # its entry expires (ttl 1 s)
        with lake_with(local_lake, LeasePolicy(ttl_s=30.0, wait_s=5.0, keep_s=30.0)).writer(
                "usurper"):
            os.kill(process.pid, signal.SIGCONT)
            go.set()
            process.join(60)
        assert outcome.read_text() == "LeaseLostError"
    finally:
        process.kill()
        process.join()


def _write_after_pause(url: str, ready: multiprocessing.synchronize.Event,
                       go: multiprocessing.synchronize.Event, outcome: str) -> None:
    import pyarrow as pa

    from shared.lake import Zone

    lake = Lake.open(url, lease_policy=LeasePolicy(ttl_s=1.0, wait_s=0.0, keep_s=0.0))
    with lake.writer():
        ready.set()
        go.wait(60)
        time.sleep(0.5)  # its heartbeat wakes and finds the lake taken
        try:
            lake.write_table(pa.table({"x": [1]}), Zone.CURATED, "t")
        except LeaseLostError:
            Path(outcome).write_text("LeaseLostError")
            return
    Path(outcome).write_text("wrote")


def test_the_lease_record_is_plain_json(local_lake: Lake) -> None:
    lake = lake_with(local_lake, QUICK)
    with lake.writer("nightly-3"):
        stored = orjson.loads(lake.read_bytes(lease_path(lake)))
    assert stored["run"] == "nightly-3" and stored["since"]
    lake.release_writer("nightly-3")


def test_a_run_waiting_in_one_thread_does_not_block_another_finishing(local_lake: Lake
                                                                      ) -> None:
    lake = lake_with(local_lake, LeasePolicy(ttl_s=30.0, wait_s=20.0, keep_s=0.0))
    first_holds, outcome = threading.Event(), []

    def first() -> None:
        with lake.writer("first"):
            first_holds.set()
            time.sleep(0.5)  # the second run is waiting by now

    thread = threading.Thread(target=first)
    thread.start()
    first_holds.wait()
    with lake.writer("second") as run:
        outcome.append(run)
    thread.join()

    assert outcome == ["second"]
    lake.release_writer("second")


@pytest.mark.parametrize("write", ["write_table", "adopt_files"])
def test_a_writer_whose_renewals_stalled_checks_the_lake_before_writing(
        local_lake: Lake, monkeypatch: pytest.MonkeyPatch, write: str) -> None:
    """A holder whose heartbeat did not run (its process was frozen, or starved) must not
    trust that it still holds the lake: before writing, it renews, and finds it taken."""
    monkeypatch.setattr(lease._Holding, "_beat", lambda self: None)  # no renewals
    lake = lake_with(local_lake, LeasePolicy(ttl_s=1.0, wait_s=0.0, keep_s=0.0))
    with lake.writer():
        time.sleep(0.6)  # over half the lease time without a renewal
        taken = LeaseRecord("usurper", "2026-12-03T02:00:00+00:00",
                            {"elsewhere/1": time.time() + 60})
        lake.write_bytes_if(lease_path(lake), taken.to_json(),
                            lake.read_versioned(lease_path(lake)).version)

        rows = pa.table({"x": [1]})
        with pytest.raises(LeaseLostError, match="lost the writer lease"):
            if write == "write_table":
                lake.write_table(rows, Zone.CURATED, "t")
            else:  # files another engine (Spark) wrote, committed by this process
                staged = lake.path(Zone.STATE, "spark", "staged")
                lake.fs.create_dir(staged, recursive=True)
                pq.write_table(rows, f"{staged}/part-0.parquet", filesystem=lake.fs)
                lake.adopt_files(staged, Zone.CURATED, "t", schema=rows.schema,
                                 partition_by=None, partitions=None)

    assert not lake.table_exists(Zone.CURATED, "t")


@pytest.mark.parametrize("content", [b"{", b"null", b"[]", b'{"run": 7}',
                                     b'{"run": "r", "holders": ["a/1"]}',
                                     b'{"run": "r", "holders": {"a/1": "soon"}}',
                                     b'{"run": "r", "holders": {}, "kept_until": null}',
                                     b'{"run": "r", "holders": {"a/1": 1e400}}'])
def test_a_damaged_lease_record_is_taken_over_not_a_crash(local_lake: Lake,
                                                          content: bytes) -> None:
    lake = lake_with(local_lake, QUICK)
    lake.write_bytes(lease_path(lake), content)

    with lake.writer() as run:
        assert record(lake).run == run


def test_a_record_with_fields_of_a_newer_version_still_holds_the_lake(local_lake: Lake
                                                                       ) -> None:
    lake = lake_with(local_lake, QUICK)
    newer = {"run": "nightly-9", "since": "2026-12-03T02:00:00+00:00", "fencing_token": 4,
             "holders": {"func-worker-3/77": time.time() + 60}, "kept_until": 0}
    lake.write_bytes(lease_path(lake), orjson.dumps(newer))

    with pytest.raises(LakeBusyError, match=r"run nightly-9 .*delete it only if that run"), \
            lake.writer():
        pass
