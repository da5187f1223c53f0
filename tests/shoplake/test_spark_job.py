"""The Spark job a Synapse pipeline runs, on local PySpark and a local lake: it lands an
upload that a trigger queued, refreshes on Spark, and records failures in the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from pyspark.sql import SparkSession

from shared.batch.ledger import ledger_path
from shared.batch.runner import Upload
from shared.batch.submit import SynapseUploadRunner
from shared.lake import Lake, Zone
from shared.settings import Settings
from shoplake.spark_job import main
from tests.support.files import ORDER_DATES, ORDERS
from tests.support.synapse import FakeSynapse, fake_synapse, runner_for


@pytest.fixture
def fake() -> Iterator[FakeSynapse]:
    with fake_synapse() as stand_in:
        yield stand_in


def queued_upload(lake: Lake, fake: FakeSynapse) -> tuple[Upload, dict[str, object]]:
    """An export uploaded and queued by the blob trigger: the run's parameters."""
    path = lake.path(Zone.RAW, "batch", "shop_orders", "orders.csv")
    lake.write_bytes(path, ORDERS)
    fake.reply(202, {"runId": "run-1"})
    upload = Upload.at(lake, path)
    SynapseUploadRunner(lake, runner_for(fake)).process_upload(upload)
    (request,) = fake.requests
    return upload, request.json()


def job_arguments(lake: Lake, parameters: dict[str, object]) -> list[str]:
    """The arguments the pipeline's Spark activity passes (infra/synapse/pipeline.json)."""
    return [f"--lake={lake.url}", f"--step={parameters['step']}",
            *(f"--{name}={parameters.get(name, '')}"
              for name in ("mapping", "dataset", "path", "sha256", "writer")),
            f"--dates={','.join(parameters.get('dates', []))}"]  # type: ignore[arg-type]


def ledger(lake: Lake, sha256: object) -> dict[str, object]:
    return orjson.loads(lake.read_bytes(ledger_path(lake, str(sha256))))


@pytest.mark.slow
@pytest.mark.spark
def test_the_job_lands_a_queued_upload_and_refreshes_on_spark(
        local_lake: Lake, fake: FakeSynapse, spark: SparkSession,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, parameters = queued_upload(local_lake, fake)
    assert parameters["dates"] == ORDER_DATES

    assert main(job_arguments(local_lake, parameters), spark=spark) == 0

    entry = ledger(local_lake, parameters["sha256"])
    assert (entry["status"], entry["run_id"], entry["landed"]) == ("landed", "run-1", 4)
    summary = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["refresh"]["tables"]["order_lines"]["action"] == "partitions"
    lines = local_lake.table(Zone.PROCESSED, "order_lines").to_pyarrow_table()
    assert sorted({d.isoformat() for d in lines["order_date"].to_pylist()}) == ORDER_DATES


@pytest.mark.slow
@pytest.mark.spark
def test_a_failed_job_says_why_in_the_ledger_and_its_exit_code(
        local_lake: Lake, fake: FakeSynapse, spark: SparkSession,
        capsys: pytest.CaptureFixture[str]) -> None:
    upload, parameters = queued_upload(local_lake, fake)
    local_lake.fs.delete_file(upload.path)  # gone before the pool got to it

    assert main(job_arguments(local_lake, parameters), spark=spark) == 1

    entry = ledger(local_lake, parameters["sha256"])
    assert entry["status"] == "failed"
    assert "orders.csv" in str(entry["error"])
    error = capsys.readouterr().err
    assert error.startswith("shoplake spark job failed: ")
    assert "Traceback" not in error.split("\n", 1)[0]


@pytest.mark.slow
@pytest.mark.spark
def test_the_nightly_refresh_joins_the_run_that_holds_the_lake(
        local_lake: Lake, spark: SparkSession) -> None:
    with local_lake.writer("nightly-1"):
        pass  # a step of the run: the run keeps the lake after it
    impatient = Settings(lake_lease_wait_seconds=0)

    arguments = [f"--lake={local_lake.url}", "--step=refresh"]
    assert main([*arguments, "--writer=nightly-1"], spark=spark, settings=impatient) == 0
    assert main(arguments, spark=spark, settings=impatient) == 1  # a run of its own: busy


@pytest.mark.parametrize(("lake", "says"), [
    ("az://lake/shop", "az:// lake needs LAKE_STORAGE_CONNECTION_STRING"),
    ("s3://bucket/shop", "unsupported lake URL"),
])
def test_a_lake_the_job_cannot_open_is_one_line_and_exit_1(
        lake: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"--lake={lake}", "--step=refresh"], spark=None, settings=Settings()) == 1
    error = capsys.readouterr().err
    assert error.startswith("shoplake spark job failed: ") and says in error
    assert "Traceback" not in error


def test_an_empty_lake_url_is_refused_not_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipeline parameter left empty must not make the job's folder a lake."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["--lake=", "--step=refresh"], spark=None, settings=Settings())
    assert exit_.value.code == 2
    assert list(tmp_path.iterdir()) == []
