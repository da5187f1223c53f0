"""Uploads handed to Synapse: one pipeline run per file content, against a loopback stand-in
for the workspace (the real SDK's requests), on a real lake."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from shared.batch.ingest import BatchFileResult, content_sha256, ingest_batch_file
from shared.batch.ledger import ledger_path, record_run_failure
from shared.batch.mapping import load_mapping
from shared.batch.runner import LocalRunner, Upload
from shared.batch.submit import (
    NO_RUN,
    NOT_LANDED,
    NotRetryableError,
    SynapseUploadRunner,
    date_expressions,
    scan_upload,
)
from shared.lake import Lake, Zone
from shared.landed import Dataset
from shared.synapse import SynapseError
from shared.warehouse.specs import CATALOG
from tests.support.files import COMPRESS, ORDER_DATES, ORDERS, zip_bytes
from tests.support.synapse import FakeSynapse, fake_synapse, runner_for

NOW = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
PRODUCTS = b"product_id,name,category,price,currency\nP1,Mug,Home,1.50,GBP\n"


@pytest.fixture
def fake() -> Iterator[FakeSynapse]:
    with fake_synapse() as stand_in:
        yield stand_in


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def submitter(lake: Lake, fake: FakeSynapse, clock: Clock, **options: Any
              ) -> SynapseUploadRunner:
    return SynapseUploadRunner(lake, runner_for(fake, **options), clock=clock)


def upload(lake: Lake, data: bytes = ORDERS, mapping: str = "shop_orders",
           name: str = "orders.csv") -> Upload:
    path = lake.path(Zone.RAW, "batch", mapping, name)
    lake.write_bytes(path, data)
    return Upload.at(lake, path)


def entry(lake: Lake, sha256: str) -> dict[str, Any]:
    return orjson.loads(lake.read_bytes(ledger_path(lake, sha256)))


def created_runs(fake: FakeSynapse) -> list[dict[str, Any]]:
    return [request.json() for request in fake.requests if request.path.endswith("/createRun")]


def run_status(fake: FakeSynapse, status: str, message: str = "", run_id: str = "run-1") -> None:
    fake.reply(200, {"runId": run_id, "pipelineName": "refresh", "status": status,
                     "message": message})


# -- what one read of the file finds ----------------------------------------------------------


def test_the_partition_step_tables_name_the_dates_of_each_dataset() -> None:
    assert date_expressions(CATALOG, Dataset.ORDER_LINES) == ["CAST(ordered_at AS DATE)"]
    assert date_expressions(CATALOG, Dataset.PRODUCTS) == []
    assert date_expressions(CATALOG, Dataset.CUSTOMERS) == []


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine's time zone is not UTC, as a laptop's may not be."""
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
@pytest.mark.parametrize("codec", [None, *COMPRESS])
def test_one_read_finds_the_content_hash_and_the_utc_dates_that_land(local_lake: Lake,
                                                                    codec: str | None) -> None:
    data = COMPRESS[codec](ORDERS) if codec else ORDERS
    path = upload(local_lake, data).path

    scan = scan_upload(local_lake, path, load_mapping("shop_orders"))

    assert (scan.sha256, scan.dates, scan.unreadable) == (
        content_sha256(local_lake, path), ORDER_DATES, False)


@pytest.mark.parametrize("data", [zip_bytes(ORDERS), PRODUCTS, COMPRESS["gzip"](ORDERS)[:60]])
def test_a_file_the_reader_refuses_is_hashed_whole(local_lake: Lake, data: bytes) -> None:
    path = upload(local_lake, data).path  # a zip, missing columns, a broken gzip stream

    scan = scan_upload(local_lake, path, load_mapping("shop_orders"))

    assert (scan.sha256, scan.dates, scan.unreadable) == (
        content_sha256(local_lake, path), [], True)


# -- starting the run --------------------------------------------------------------------------


def test_an_upload_starts_a_run_with_its_file_and_dates(local_lake: Lake, fake: FakeSynapse,
                                                        clock: Clock) -> None:
    fake.reply(202, {"runId": "run-1"})  # createRun's one success answer (Synapse's REST API)
    orders = upload(local_lake)
    sha256 = content_sha256(local_lake, orders.path)

    result = submitter(local_lake, fake, clock).process_upload(orders)

    assert result == BatchFileResult("raw/batch/shop_orders/orders.csv", "shop_orders",
                                     "order_lines", sha256, "queued", 0, 0, 0, run_id="run-1")
    assert created_runs(fake) == [{
        "step": "upload", "mapping": "shop_orders", "dataset": "order_lines",
        "path": "raw/batch/shop_orders/orders.csv", "sha256": sha256, "dates": ORDER_DATES}]
    assert entry(local_lake, sha256) == {**result.to_json(), "dates": ORDER_DATES,
                                         "queued_at": NOW.isoformat()}
    assert not local_lake.exists(local_lake.path(Zone.RAW, "landed"))  # the run lands it


def test_an_undated_dataset_touches_no_dates(local_lake: Lake, fake: FakeSynapse,
                                             clock: Clock) -> None:
    fake.reply(202, {"runId": "run-1"})

    submitter(local_lake, fake, clock).process_upload(upload(local_lake, PRODUCTS,
                                                             "shop_products", "p.csv"))

    [run] = created_runs(fake)
    assert (run["dataset"], run["dates"]) == ("products", [])


def test_the_same_content_again_starts_nothing(local_lake: Lake, fake: FakeSynapse,
                                               clock: Clock) -> None:
    fake.reply(202, {"runId": "run-1"})
    runner = submitter(local_lake, fake, clock)
    first = runner.process_upload(upload(local_lake))

    again = [runner.process_upload(upload(local_lake)),  # the flush event, a redelivery
             runner.process_upload(upload(local_lake, name="orders-copy.csv"))]

    assert len(created_runs(fake)) == 1
    assert again == [replace_status(first, "duplicate")] * 2


def replace_status(result: BatchFileResult, status: str) -> BatchFileResult:
    return BatchFileResult(**{**result.to_json(), "status": status})  # type: ignore[arg-type]


def test_two_triggers_at_once_start_one_run(any_lake: Lake, fake: FakeSynapse, clock: Clock,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fake.reply(202, {"runId": "run-1"})  # a second createRun would get a 500 and raise
    orders = upload(any_lake)
    both_read = threading.Barrier(2, timeout=30)
    waited: set[int] = set()
    read_json = any_lake.read_json

    def read_together(path: str) -> tuple[Any, str | None]:
        found = read_json(path)
        if threading.get_ident() not in waited:  # each sees no entry before either writes
            waited.add(threading.get_ident())
            both_read.wait()
        return found

    monkeypatch.setattr(any_lake, "read_json", read_together)
    results: list[BatchFileResult] = []

    def trigger() -> None:
        results.append(submitter(any_lake, fake, clock).process_upload(orders))

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(created_runs(fake)) == 1
    assert sorted(result.status for result in results) == ["duplicate", "queued"]
    assert entry(any_lake, results[0].sha256)["run_id"] == "run-1"


def test_a_throttled_start_is_retried_after_retry_after(local_lake: Lake, fake: FakeSynapse,
                                                        clock: Clock) -> None:
    fake.reply(429, {"error": {"code": "TooManyRequests", "message": "slow down"}},
               {"Retry-After": "0"})
    fake.reply(202, {"runId": "run-1"})

    result = submitter(local_lake, fake, clock).process_upload(upload(local_lake))

    assert len(created_runs(fake)) == 2
    assert (result.status, entry(local_lake, result.sha256)["run_id"]) == ("queued", "run-1")


def test_a_failed_start_is_recorded_and_raised_and_the_retry_starts_a_run(
        local_lake: Lake, fake: FakeSynapse, clock: Clock) -> None:
    fake.reply(500, {"error": {"code": "InternalServerError",
                               "message": "The Spark pool is\nnot available"}})
    orders = upload(local_lake)
    sha256 = content_sha256(local_lake, orders.path)
    runner = submitter(local_lake, fake, clock, retry_total=0)

    with pytest.raises(SynapseError) as raised:
        runner.process_upload(orders)

    failed = entry(local_lake, sha256)
    assert str(raised.value) == (
        "starting step 'upload' of Synapse pipeline 'refresh' failed: HTTP 500 "
        "InternalServerError The Spark pool is not available")
    assert (failed["status"], failed["error"], failed["run_id"]) == (
        "failed", str(raised.value), None)
    fake.reply(202, {"runId": "run-2"})  # the trigger's retry
    assert runner.process_upload(orders).run_id == "run-2"
    assert len(created_runs(fake)) == 2
    assert (entry(local_lake, sha256)["status"], entry(local_lake, sha256)["error"]) == (
        "queued", None)


def test_a_run_that_recorded_its_outcome_first_keeps_it(local_lake: Lake, fake: FakeSynapse,
                                                        clock: Clock,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The job may land the file before the trigger records the run id."""
    orders = upload(local_lake)
    runner = submitter(local_lake, fake, clock)
    start = runner.synapse.start

    def start_and_land(step: str, parameters: dict[str, Any]) -> str:
        run_id = start(step, parameters)
        ingest_batch_file(local_lake, orders.path, load_mapping("shop_orders"))  # the job
        return run_id

    monkeypatch.setattr(runner.synapse, "start", start_and_land)
    fake.reply(202, {"runId": "run-1"})
    result = runner.process_upload(orders)

    recorded = entry(local_lake, result.sha256)
    assert (recorded["status"], recorded["landed"], recorded["run_id"]) == ("landed", 4, None)


class WorkerStopped(BaseException):
    """The Functions worker stopped (a deployment, a scale-in) in the middle of a trigger."""


# -- a trigger that died between its writes ---------------------------------------------------


def test_a_queued_entry_without_a_run_is_taken_over_after_the_grace_period(
        local_lake: Lake, fake: FakeSynapse, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    orders = upload(local_lake)
    runner = submitter(local_lake, fake, clock)

    def stop(step: str, parameters: dict[str, Any]) -> str:
        raise WorkerStopped  # between the entry's two writes

    monkeypatch.setattr(runner.synapse, "start", stop)
    with pytest.raises(WorkerStopped):
        runner.process_upload(orders)
    runner = submitter(local_lake, fake, clock)

    clock.now = NOW + timedelta(minutes=14)
    assert runner.process_upload(orders).status == "duplicate"
    assert fake.requests == []
    clock.now = NOW + timedelta(minutes=16)
    fake.reply(202, {"runId": "run-1"})
    assert runner.process_upload(orders).run_id == "run-1"
    assert entry(local_lake, content_sha256(local_lake, orders.path))["queued_at"] == (
        clock.now.isoformat())


# -- a file the reader refuses -----------------------------------------------------------------


@pytest.mark.parametrize("data", [zip_bytes(ORDERS), PRODUCTS])
def test_a_file_that_cannot_be_read_is_rejected_as_the_local_runner_rejects_it(
        tmp_path: Path, fake: FakeSynapse, clock: Clock, data: bytes) -> None:
    here, there = Lake.open(str(tmp_path / "synapse")), Lake.open(str(tmp_path / "local"))

    rejected = submitter(here, fake, clock).process_upload(upload(here, data))
    local = LocalRunner(there).process_upload(upload(there, data))

    assert fake.requests == []
    assert rejected.status == "rejected"
    assert rejected == local
    for lake in (here, there):
        recorded = entry(lake, local.sha256)
        del recorded["landed_at"]
        assert recorded == local.to_json()
    assert ([here.relative(p) for p in here.list_files(here.path(Zone.QUARANTINE))]
            == [there.relative(p) for p in there.list_files(there.path(Zone.QUARANTINE))] != [])


# -- how the run is doing ------------------------------------------------------------------


def queued(lake: Lake, fake: FakeSynapse, clock: Clock) -> tuple[SynapseUploadRunner, Upload,
                                                                 str]:
    """An upload whose run `run-1` started."""
    fake.reply(202, {"runId": "run-1"})
    runner, orders = submitter(lake, fake, clock), upload(lake)
    return runner, orders, runner.process_upload(orders).sha256


@pytest.mark.parametrize(("outcome", "message", "error"), [
    ("Failed", "Operation on target land failed:\n Spark job exited with 1",
     "Failed: Operation on target land failed: Spark job exited with 1"),
    ("Cancelled", "", "Cancelled"),
    ("Succeeded", "", NOT_LANDED),
])
def test_a_run_that_ends_without_landing_the_file_fails_its_entry(
        local_lake: Lake, fake: FakeSynapse, clock: Clock, outcome: str, message: str,
        error: str) -> None:
    runner, _, sha256 = queued(local_lake, fake, clock)
    for status in ("Queued", "InProgress"):
        run_status(fake, status)
        assert [e["status"] for e in runner.refresh_ledger()] == ["queued"]
    run_status(fake, outcome, message)
    clock.now = NOW + timedelta(minutes=5)

    [refreshed] = runner.refresh_ledger()

    assert refreshed == entry(local_lake, sha256)
    assert (refreshed["status"], refreshed["error"], refreshed["run_id"],
            refreshed["failed_at"]) == ("failed", error, "run-1", clock.now.isoformat())
    assert [r.path for r in fake.requests[1:]] == ["/pipelineruns/run-1"] * 3
    assert runner.refresh_ledger() == [refreshed]  # a failed entry is not asked about again
    assert len(fake.requests) == 4


def test_a_run_that_lands_the_file_leaves_a_landed_entry(local_lake: Lake, fake: FakeSynapse,
                                                         clock: Clock) -> None:
    runner, orders, _ = queued(local_lake, fake, clock)
    run_status(fake, "InProgress")
    runner.refresh_ledger()

    ingest_batch_file(local_lake, orders.path, load_mapping("shop_orders"))  # the job

    [landed] = runner.refresh_ledger()
    assert (landed["status"], landed["received"], landed["landed"], landed["run_id"]) == (
        "landed", 5, 4, "run-1")
    assert len(fake.requests) == 2  # a landed entry is not asked about
    again = runner.process_upload(orders)
    assert (again.status, again.landed, again.run_id) == ("duplicate", 4, "run-1")


def test_a_run_synapse_does_not_know_fails_its_entry(local_lake: Lake, fake: FakeSynapse,
                                                     clock: Clock) -> None:
    runner, _, _ = queued(local_lake, fake, clock)
    fake.reply(404, {"error": {"code": "PipelineRunNotFound", "message": "no run run-1"}})

    [refreshed] = runner.refresh_ledger()

    assert refreshed["status"] == "failed"
    assert "HTTP 404 PipelineRunNotFound no run run-1" in refreshed["error"]


def test_a_refresh_that_cannot_reach_synapse_raises_and_changes_nothing(
        local_lake: Lake, fake: FakeSynapse, clock: Clock) -> None:
    runner, _, sha256 = queued(local_lake, fake, clock)
    before = entry(local_lake, sha256)
    fake.reply(403, {"error": {"code": "Forbidden", "message": "no access"}})

    with pytest.raises(SynapseError, match="Forbidden"):
        runner.refresh_ledger()

    assert entry(local_lake, sha256) == before


def test_a_queued_entry_whose_run_never_started_fails_after_the_grace_period(
        local_lake: Lake, fake: FakeSynapse, clock: Clock) -> None:
    orders = upload(local_lake)
    sha256 = content_sha256(local_lake, orders.path)
    local_lake.write_bytes(ledger_path(local_lake, sha256), orjson.dumps({
        "file": "raw/batch/shop_orders/orders.csv", "sha256": sha256, "status": "queued",
        "queued_at": NOW.isoformat(), "run_id": None}))
    runner = submitter(local_lake, fake, clock)

    clock.now = NOW + timedelta(minutes=10)
    assert runner.refresh_ledger()[0]["status"] == "queued"
    clock.now = NOW + timedelta(minutes=20)
    assert (runner.refresh_ledger()[0]["status"], entry(local_lake, sha256)["error"]) == (
        "failed", NO_RUN)
    assert fake.requests == []


# -- retrying ----------------------------------------------------------------------------------


def test_a_failed_run_is_retried_with_a_new_run(local_lake: Lake, fake: FakeSynapse,
                                                clock: Clock) -> None:
    runner, orders, sha256 = queued(local_lake, fake, clock)
    record_run_failure(local_lake, sha256, "Spark job exited with 1")  # the job, as it fails
    fake.reply(202, {"runId": "run-2"})

    retried = runner.retry(orders, sha256)

    assert (retried.status, retried.run_id) == ("queued", "run-2")
    assert [run["sha256"] for run in created_runs(fake)] == [sha256, sha256]
    assert entry(local_lake, sha256)["run_id"] == "run-2"


def test_a_retry_asks_synapse_how_a_queued_run_is_doing_first(
        local_lake: Lake, fake: FakeSynapse, clock: Clock) -> None:
    runner, orders, _ = queued(local_lake, fake, clock)
    run_status(fake, "InProgress")

    with pytest.raises(NotRetryableError, match="queued as Synapse run run-1, which is still"):
        runner.retry(orders)

    run_status(fake, "Failed", "out of memory")
    fake.reply(202, {"runId": "run-2"})
    assert runner.retry(orders).run_id == "run-2"
    assert [r.path.rsplit("/", 1)[-1] for r in fake.requests] == [
        "createRun", "run-1", "run-1", "createRun"]


def test_a_landed_upload_is_not_retried(local_lake: Lake, fake: FakeSynapse,
                                        clock: Clock) -> None:
    runner, orders, _ = queued(local_lake, fake, clock)
    ingest_batch_file(local_lake, orders.path, load_mapping("shop_orders"))

    with pytest.raises(NotRetryableError, match=r"orders\.csv is landed: nothing to retry"):
        runner.retry(orders)
    assert len(fake.requests) == 1


def test_a_retry_of_content_that_was_replaced_is_refused(local_lake: Lake, fake: FakeSynapse,
                                                         clock: Clock) -> None:
    runner, orders, sha256 = queued(local_lake, fake, clock)
    upload(local_lake, ORDERS + b"O5,1,2026-11-11T08:00:00Z,C1,P1,1,1.50,GBP,sale\n")

    with pytest.raises(NotRetryableError, match=f"now holds other content .*not {sha256}"):
        runner.retry(orders, sha256)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("content", [
    pytest.param(b"[]", id="a list"),
    pytest.param(b'{"sha256": "SHA", "status": "queued", "queued_at": "2020-01-01T00:00:00"}',
                 id="a queued time without a zone"),
    pytest.param(b'{"status": "queued", "queued_at": "2020-01-01T00:00:00+00:00"}',
                 id="no sha256"),
])
def test_a_malformed_entry_does_not_stop_the_trigger_or_the_listing(
        local_lake: Lake, fake: FakeSynapse, clock: Clock, content: bytes) -> None:
    queued = upload(local_lake)
    sha256 = content_sha256(local_lake, queued.path)
    local_lake.write_bytes(ledger_path(local_lake, sha256),
                           content.replace(b"SHA", sha256.encode()))
    runner = submitter(local_lake, fake, clock)

    assert runner.refresh_ledger() == []  # nothing readable to refresh, and no crash
    fake.reply(202, {"runId": "run-1"})
    assert runner.process_upload(queued).status == "queued"
    assert entry(local_lake, sha256)["run_id"] == "run-1"
