"""Uploads with REFRESH_RUNNER=synapse as the entry layer sees them: the services' runner,
the blob trigger, and `shoplake uploads`, against a loopback stand-in for Synapse."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import Result
from typer.testing import CliRunner

from shared.batch.ingest import content_sha256, ingest_batch_file
from shared.batch.ledger import ledger_path
from shared.batch.mapping import load_mapping
from shared.batch.runner import LocalRunner
from shared.batch.submit import SynapseUploadRunner
from shared.lake import Lake, Zone
from shared.settings import Settings
from shared.synapse import SynapseError
from shoplake.cli import app
from shoplake.services import Services, current_services
from tests.support.functions_host import app_function, blob_trigger_input
from tests.support.synapse import FakeSynapse, fake_synapse, runner_for

cli = CliRunner()
ORDERS = (b"order_id,line_number,ordered_at,customer_id,product_id,quantity,unit_price,"
          b"currency,status\nO1,1,2026-11-08T10:00:00Z,C1,P1,2,1.50,GBP,sale\n")
SYNAPSE = {"REFRESH_RUNNER": "synapse"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSynapse]:
    """The stand-in, as every `Services`' Synapse runner."""
    with fake_synapse() as stand_in:
        synapse = runner_for(stand_in, retry_total=0)
        monkeypatch.setattr(Services, "synapse", property(lambda _: synapse))
        yield stand_in


def uploaded(lake: Lake, name: str = "orders.csv", data: bytes = ORDERS) -> str:
    path = lake.path(Zone.RAW, "batch", "shop_orders", name)
    lake.write_bytes(path, data)
    return path


def run_status(fake: FakeSynapse, status: str, message: str = "") -> None:
    fake.reply(200, {"runId": "run-1", "status": status, "message": message})


def uploads(lake: Lake, *args: str, env: dict[str, str] | None = None) -> Result:
    return cli.invoke(app, ["--lake", lake.url, "uploads", *args], env=env or SYNAPSE)


# -- services and the blob trigger ------------------------------------------------------------


def test_the_settings_choose_the_uploads_runner(local_lake: Lake, fake: FakeSynapse) -> None:
    def runner(**settings: str) -> object:
        return Services(Settings(lake_url=local_lake.url, **settings), lake=local_lake).runner

    assert isinstance(runner(), LocalRunner)
    assert isinstance(runner(refresh_runner="synapse"), SynapseUploadRunner)


def test_the_blob_trigger_starts_one_run_per_file(environment: Path, fake: FakeSynapse,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("REFRESH_RUNNER", "synapse")
    lake = current_services().lake
    blob = uploaded(lake)
    fake.reply(202, {"runId": "run-1"})

    with caplog.at_level(logging.INFO, "shoplake.ingest"):
        for _ in range(2):  # created, then flushed: two BlobCreated events
            app_function("on_batch_file")(blob_trigger_input(blob, ORDERS))

    assert [r.path for r in fake.requests] == ["/pipelines/refresh/createRun"]
    assert caplog.messages == [
        "upload raw/batch/shop_orders/orders.csv (shop_orders): queued as Synapse run run-1",
        "upload raw/batch/shop_orders/orders.csv (shop_orders): duplicate received=0 landed=0 "
        "quarantined=0 reasons={} run=run-1"]
    assert not lake.exists(lake.path(Zone.RAW, "landed"))


def test_the_blob_trigger_raises_when_synapse_refuses_the_run(
        environment: Path, fake: FakeSynapse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFRESH_RUNNER", "synapse")
    lake = current_services().lake
    blob = uploaded(lake)
    fake.reply(500, {"error": {"code": "InternalServerError", "message": "try later"}})

    with pytest.raises(SynapseError, match="HTTP 500 InternalServerError try later"):
        app_function("on_batch_file")(blob_trigger_input(blob, ORDERS))

    entry = orjson.loads(lake.read_bytes(ledger_path(lake, content_sha256(lake, blob))))
    assert (entry["status"], entry["run_id"]) == ("failed", None)
    assert entry["error"].endswith("HTTP 500 InternalServerError try later")


# -- shoplake uploads ------------------------------------------------------------------------


def test_uploads_follow_a_run_until_it_fails_and_retry_starts_a_new_one(
        local_lake: Lake, fake: FakeSynapse) -> None:
    path = uploaded(local_lake)
    sha256 = content_sha256(local_lake, path)
    fake.reply(202, {"runId": "run-1"})
    Services(Settings(lake_url=local_lake.url, refresh_runner="synapse")).process_upload(path)

    statuses = []
    for status in ("Queued", "InProgress"):
        run_status(fake, status)
        listed = uploads(local_lake, "--json")
        assert listed.exit_code == 0, listed.output
        statuses.append([(e["status"], e["run_id"]) for e in json.loads(listed.stdout)])
    run_status(fake, "Failed", "Operation on target shoplake failed: exit code 1")
    failed = uploads(local_lake)

    assert statuses == [[("queued", "run-1")]] * 2
    assert failed.exit_code == 1
    [line] = failed.stdout.splitlines()
    assert line.startswith("failed ")
    assert f"raw/batch/shop_orders/orders.csv  sha256 {sha256[:12]}  run run-1  " in line
    assert line.endswith("Failed: Operation on target shoplake failed: exit code 1")

    fake.reply(202, {"runId": "run-2"})
    retried = cli.invoke(app, ["--lake", local_lake.url, "uploads", "retry", sha256],
                         env=SYNAPSE)
    assert retried.exit_code == 0, retried.output
    assert retried.stdout == "raw/batch/shop_orders/orders.csv: queued as Synapse run run-2\n"
    assert fake.requests[-1].json()["sha256"] == sha256
    run_status(fake, "Queued")
    assert [(e["status"], e["run_id"]) for e in json.loads(
        uploads(local_lake, "--json").stdout)] == [("queued", "run-2")]


def test_a_retry_of_a_running_or_landed_upload_starts_nothing(local_lake: Lake,
                                                              fake: FakeSynapse) -> None:
    path = uploaded(local_lake)
    fake.reply(202, {"runId": "run-1"})
    Services(Settings(lake_url=local_lake.url, refresh_runner="synapse")).process_upload(path)
    run_status(fake, "InProgress")

    running = uploads(local_lake, "retry", "raw/batch/shop_orders/orders.csv")
    ingest_batch_file(local_lake, path, load_mapping("shop_orders"))  # the run's job
    landed = uploads(local_lake, "retry", "raw/batch/shop_orders/orders.csv")

    assert (running.exit_code, landed.exit_code) == (1, 1)
    assert running.stderr == ("cannot retry: raw/batch/shop_orders/orders.csv is queued as "
                              "Synapse run run-1, which is still running: `shoplake uploads` "
                              "shows how it is doing\n")
    assert landed.stderr == ("cannot retry: raw/batch/shop_orders/orders.csv is landed: "
                             "nothing to retry\n")
    assert [r.path.rsplit("/", 1)[-1] for r in fake.requests] == ["createRun", "run-1"]


@pytest.mark.parametrize(("target", "error"), [
    ("a" * 64, f"cannot retry: the ledger has no upload with sha256 {'a' * 64} "),
    ("raw/batch/shop_orders/gone.csv",
     "cannot retry: raw/batch/shop_orders/gone.csv is no longer in the lake"),
    ("raw/elsewhere.csv", "cannot retry: 'raw/elsewhere.csv' is not an upload"),
])
def test_a_retry_of_what_is_no_upload_says_so(local_lake: Lake, fake: FakeSynapse, target: str,
                                              error: str) -> None:
    result = uploads(local_lake, "retry", target)

    assert result.exit_code == 1
    assert result.stderr.startswith(error) and result.stderr.count("\n") == 1
    assert fake.requests == []


def test_without_synapse_uploads_lists_the_ledger_and_retry_is_refused(
        local_lake: Lake, fake: FakeSynapse) -> None:
    ingest_batch_file(local_lake, uploaded(local_lake), load_mapping("shop_orders"))
    local = {"REFRESH_RUNNER": "local"}

    listed = uploads(local_lake, env=local)
    everything = uploads(local_lake, "--all", "--json", env=local)
    retried = uploads(local_lake, "retry", "raw/batch/shop_orders/orders.csv", env=local)

    assert (listed.exit_code, listed.stdout) == (0, "no queued or failed uploads\n")
    assert [(e["status"], e["landed"]) for e in json.loads(everything.stdout)] == [("landed", 1)]
    assert retried.exit_code == 2
    assert retried.stderr.startswith("configuration error: `shoplake uploads retry` starts a "
                                     "Synapse run: set REFRESH_RUNNER=synapse")
    assert fake.requests == []
