"""`shoplake synapse deploy`: the artifacts in infra/synapse/, the package zip, and what the real
SDKs send: azure-synapse-artifacts to the loopback stand-in of a workspace dev endpoint,
azure-storage-blob to Azurite (which stands in for the workspace's storage)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerClient
from azure.synapse.artifacts.models import (
    PipelineResource,
    SparkJobDefinitionResource,
    SynapseSparkJobDefinitionActivity,
)
from packaging.requirements import Requirement

from shared.settings import ConfigurationError, Settings
from shared.synapse import SynapseError
from shoplake.cli import main
from shoplake.synapse_deploy import (
    HASH_METADATA,
    PACKAGE,
    PACKAGE_DATA,
    DeployPlan,
    JobFile,
    JobFolder,
    SynapseDeployer,
    as_model,
    build_package,
    load_artifact,
    model_problems,
    plan_deploy,
)
from tests.support.azurite import Azurite
from tests.support.cli import SHOPLAKE_COMMAND
from tests.support.cli import run_main as run_shoplake
from tests.support.paths import ROOT
from tests.support.synapse import FakeSynapse, FixedCredential, fake_synapse

API_VERSION = "2020-12-01"
LAKE = "abfss://lake@stlake.dfs.core.windows.net/shoplake"
FOLDER = "abfss://synapse@stsyn.dfs.core.windows.net/shoplake/jobs"
# shoplake.spark_job.main's arguments, in the order the pipeline passes them.
ARGUMENTS = ["lake", "step", "mapping", "dataset", "path", "sha256", "dates", "partitions",
             "writer"]
# What shared.synapse.SynapseRunner.start sends besides `step`, per step.
RUN_PARAMETERS = {"refresh": {"partitions"},
                  "upload": {"mapping", "dataset", "path", "sha256", "dates"}}


def settings(folder: str = FOLDER, **values: Any) -> Settings:
    return Settings(lake_url=LAKE, synapse_job_folder=folder, **values)


@pytest.fixture(scope="module")
def plan() -> DeployPlan:
    return plan_deploy(settings())


def without_name(artifact: dict[str, Any]) -> dict[str, Any]:
    """An artifact as its PUT body: the name is in the URL (the SDK drops the read-only one)."""
    return {key: value for key, value in artifact.items() if key != "name"}


# -- the artifacts ----------------------------------------------------------------------


def test_the_pipeline_runs_the_spark_job_with_every_argument(plan: DeployPlan) -> None:
    pipeline = as_model(PipelineResource, plan.pipeline_json)
    [activity] = pipeline.activities

    assert model_problems(pipeline, "") == []
    assert isinstance(activity, SynapseSparkJobDefinitionActivity)
    assert (activity.spark_job.type, activity.spark_job.reference_name) == (
        "SparkJobDefinitionReference", "shoplake-refresh-job")
    assert [argument["type"] for argument in activity.arguments] == ["Expression"] * 9
    assert [argument["value"] for argument in activity.arguments] == [
        "--lake=@{pipeline().parameters.lake}",
        "--step=@{pipeline().parameters.step}",
        "--mapping=@{pipeline().parameters.mapping}",
        "--dataset=@{pipeline().parameters.dataset}",
        "--path=@{pipeline().parameters.path}",
        "--sha256=@{pipeline().parameters.sha256}",
        "--dates=@{join(pipeline().parameters.dates, ',')}",
        "--partitions=@{join(pipeline().parameters.partitions, ',')}",
        "--writer=@{pipeline().parameters.writer}",
    ]
    assert (activity.policy.retry, activity.policy.retry_interval_in_seconds,
            activity.policy.timeout) == (2, 120, "0.04:00:00")


def test_the_pipeline_parameters_are_what_runs_send(plan: DeployPlan) -> None:
    parameters = as_model(PipelineResource, plan.pipeline_json).parameters
    types = {name: spec.type for name, spec in parameters.items()}
    defaults = {name: spec.default_value for name, spec in parameters.items()}

    assert set(parameters) == set(ARGUMENTS)
    assert types == {"step": "String", "lake": "String", "mapping": "String",
                     "dataset": "String", "path": "String", "sha256": "String",
                     "writer": "String", "dates": "Array", "partitions": "Array"}
    # Only `step` is required: each step's run sends its own parameters, the rest default.
    assert defaults == {"step": None, "lake": LAKE, "mapping": "", "dataset": "", "path": "",
                        "sha256": "", "writer": "", "dates": [], "partitions": []}
    assert all(sent <= set(parameters) for sent in RUN_PARAMETERS.values())


def test_the_job_definition_targets_the_spark_3_5_pool(plan: DeployPlan) -> None:
    definition = as_model(SparkJobDefinitionResource, plan.job_definition_json)
    job = definition.properties.job_properties

    assert model_problems(definition, "") == []
    assert (definition.properties.target_big_data_pool.reference_name,
            definition.properties.required_spark_version,
            definition.properties.language) == ("shoplake", "3.5", "python")
    assert job.file == f"{FOLDER}/job.py"
    assert job.additional_properties == {"pyFiles": [f"{FOLDER}/{PACKAGE}"]}
    assert job.conf["spark.sql.session.timeZone"] == "UTC"
    assert job.conf["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert "spark.sql.sources.partitionOverwriteMode" not in job.conf
    assert (job.driver_cores, job.executor_cores, job.num_executors) == (4, 4, 2)


@pytest.mark.parametrize(("model", "artifact"), [(SparkJobDefinitionResource, "job_definition"),
                                                 (PipelineResource, "pipeline")])
def test_the_sdk_sends_each_artifact_as_written(plan: DeployPlan, model: Any,
                                                artifact: str) -> None:
    """Deserialising and serialising again loses nothing: the PUT body is the JSON file."""
    resolved = getattr(plan, f"{artifact}_json")
    assert as_model(model, resolved).serialize() == without_name(resolved)


def test_names_and_places_come_from_the_settings() -> None:
    plan = plan_deploy(settings(folder="abfss://jobs@other.dfs.core.windows.net/",
                                synapse_pipeline="nightly", synapse_spark_pool="big"))
    text = json.dumps([plan.pipeline_json, plan.job_definition_json])

    assert (plan.pipeline, plan.job_definition, plan.spark_pool) == ("nightly", "nightly-job",
                                                                     "big")
    assert plan.job_definition_json["properties"]["jobProperties"]["file"] == (
        "abfss://jobs@other.dfs.core.windows.net/job.py")
    assert "${" not in text and "shoplake-refresh" not in text


def test_a_misspelled_artifact_is_refused(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "infra" / "synapse", tmp_path / "infra" / "synapse")
    pipeline = tmp_path / "infra" / "synapse" / "pipeline.json"
    pipeline.write_text(pipeline.read_text().replace('"SparkJob"', '"SparkJobs"'))
    values = {"pipeline": "p", "spark_job_definition": "j", "lake_url": LAKE}

    with pytest.raises(ValueError, match=r"typeProperties is not a known property"):
        load_artifact("pipeline.json", values, PipelineResource, tmp_path)


@pytest.mark.parametrize(("values", "message"), [
    ({"synapse_job_folder": None}, "SYNAPSE_JOB_FOLDER is not set"),
    ({"synapse_job_folder": "https://stsyn.blob.core.windows.net/synapse"},
     "SYNAPSE_JOB_FOLDER 'https://stsyn.blob.core.windows.net/synapse' must look like"),
    ({"synapse_job_folder": "abfss://stsyn.dfs.core.windows.net/x"}, "must look like"),
    ({"lake_url": "lake"}, "LAKE_URL 'lake' is not an ADLS Gen2 lake"),
])
def test_unusable_settings_are_named(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        plan_deploy(Settings(**{"lake_url": LAKE, "synapse_job_folder": FOLDER, **values}))


def test_a_pool_name_synapse_refuses_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="SYNAPSE_SPARK_POOL 'shop-lake' is not a Spark pool"):
        Settings(synapse_spark_pool="shop-lake")


def test_the_pool_packages_are_pinned_as_the_app_s() -> None:
    pool = _requirements(ROOT / "infra" / "synapse" / "requirements.txt")
    app = _requirements(ROOT / "requirements.txt")
    dev = _requirements(ROOT / "requirements-dev.txt")

    assert {name: app.get(name) for name in pool} == pool
    assert {"deltalake", "pyarrow", "duckdb", "sqlglot", "pydantic"} <= set(pool)
    assert "pyspark" not in pool  # the pool's runtime has its own
    assert app["sqlglot"] == dev["sqlglot"]


# Imported when present, else done without: pyarrow pickles with cloudpickle if it can, and
# pyarrow.dataset loads pandas (with pytz) when it is installed (the pool's runtime has it).
OPTIONAL_IMPORTS = {"cloudpickle", "pandas", "pytz"}


def test_the_pool_packages_cover_what_the_spark_job_imports() -> None:
    """In a fresh interpreter, as the pool starts the job: every distribution the job module
    loads is a pool requirement, something one requires, or the pool's own Spark."""
    done = subprocess.run(
        [sys.executable, "-c", "import json, sys; before = set(sys.modules); "
                               "import shoplake.spark_job; print(json.dumps(sorted("
                               "{m.split('.')[0] for m in set(sys.modules) - before})))"],
        capture_output=True, text=True, timeout=120, check=True, cwd=ROOT)
    distributions = metadata.packages_distributions()
    loaded = {_normal(name) for module in json.loads(done.stdout)
              for name in distributions.get(module, [])}
    pool = _requirements(ROOT / "infra" / "synapse" / "requirements.txt")

    assert loaded - _closure(pool) - OPTIONAL_IMPORTS - {"pyspark", "py4j", "shoplake"} == set()


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names: Iterable[str]) -> set[str]:
    """`names` and every distribution they require (installed here), transitively."""
    found: set[str] = set()
    pending = [_normal(name) for name in names]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(_normal(requirement.name))
    return found


def _requirements(path: Path) -> dict[str, str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return dict(line.split("==") for line in lines if line)


# -- the package ------------------------------------------------------------------------


def test_the_package_is_the_same_bytes_for_the_same_tree(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    for name in build_package().names:  # copied files get new times and maybe new modes
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((ROOT / name).read_bytes())
        os.utime(copy / name, (0, 0))

    assert build_package(copy).file == build_package().file
    (copy / "shared" / "__init__.py").write_text("changed = True\n")
    assert build_package(copy).file.sha256 != build_package().file.sha256


def test_the_package_holds_the_modules_and_their_data_files() -> None:
    package = build_package()
    with zipfile.ZipFile(io.BytesIO(package.file.data)) as archive:
        entries = archive.infolist()

    names = [entry.filename for entry in entries]
    assert names == sorted(names) == list(package.names)
    assert {"shared/__init__.py", "shoplake/__init__.py", "shoplake/synapse_deploy.py",
            "shared/events/event.schema.json"} <= set(names)
    assert any(name.startswith("shared/warehouse/tables/") and name.endswith(".sql")
               for name in names)
    assert any(name.startswith("shared/batch/mappings/") for name in names)
    assert not any("__pycache__" in name or name.startswith(("tests/", "model/"))
                   for name in names)
    assert {entry.date_time for entry in entries} == {(1980, 1, 1, 0, 0, 0)}


def test_the_package_data_files_are_pyproject_s() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]

    assert sorted(PACKAGE_DATA) == sorted(f"shared/{pattern}" for pattern in data["shared"])
    # shoplake's are the dashboard's page and chart library: the Spark job serves no page;
    # model's are the forecasts' and customer value's queries: it runs neither.
    assert set(data) == {"shared", "shoplake", "model"}
    assert data["model"] == ["sql/*.sql"]
    assert all(pattern.startswith("dashboard/") for pattern in data["shoplake"])


def _job_package(tmp_path: Path, spark_job: str) -> Path:
    """A package zip with shoplake's real `shared` and a stand-in `shoplake.spark_job`."""
    package = tmp_path / PACKAGE
    with zipfile.ZipFile(package, "w") as archive:
        for name in build_package().names:
            if name.startswith("shared/"):
                archive.write(ROOT / name, name)
        archive.writestr("shoplake/__init__.py", "")
        archive.writestr("shoplake/spark_job.py", spark_job)
    return package


def test_job_py_runs_spark_job_main_from_the_unpacked_package(tmp_path: Path) -> None:
    """As Spark runs it: the zip on the path, the main file as __main__, no site-packages.
    The stand-in `main` checks what the warehouse needs: its SQL files beside its modules."""
    package = _job_package(tmp_path, (
        "import sys\nfrom pathlib import Path\nimport shared\n"
        "def main(argv):\n"
        "    tables = Path(shared.__file__).parent / 'warehouse' / 'tables'\n"
        "    print(sorted(argv), len(list(tables.glob('*.sql'))) > 0)\n"
        "    return 3\n"))

    done = subprocess.run(
        [sys.executable, "-S", str(ROOT / "infra" / "synapse" / "job.py"), "--step=refresh",
         "--writer="],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        env={"PYTHONPATH": str(package), "PATH": os.environ.get("PATH", "")},
    )

    assert (done.returncode, done.stdout) == (3, "['--step=refresh', '--writer='] True\n"), \
        done.stderr


# -- the deploy, against the stand-in and Azurite ----------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeSynapse]:
    with fake_synapse() as stand_in:
        yield stand_in


@pytest.fixture
def job_container(azurite: Azurite) -> ContainerClient:
    container = ContainerClient.from_connection_string(azurite.connection_string,
                                                       f"t{uuid.uuid4().hex[:12]}")
    container.create_container()
    return container


@pytest.fixture
def azurite_plan(job_container: ContainerClient) -> DeployPlan:
    """A plan whose job folder is in the Azurite container (same account name, any host)."""
    folder = f"abfss://{job_container.container_name}@devstoreaccount1.dfs.core.windows.net/jobs"
    return plan_deploy(settings(folder=folder))


def deployer_for(fake: FakeSynapse, container: ContainerClient, **options: Any
                 ) -> SynapseDeployer:
    """A deployer of the stand-in workspace and the container (a client of its own: the
    deployer closes its clients)."""
    options = {"retry_backoff": 0, "max_wait": 0, "polling_interval": 0, **options}
    storage = ContainerClient.from_container_url(container.url, credential=container.credential)
    return SynapseDeployer(fake.url, FixedCredential(), storage, insecure_loopback=True,
                           **options)


def published(fake: FakeSynapse, plan: DeployPlan) -> None:
    """Both artifacts accepted at once (200, the created resource)."""
    fake.reply(200, plan.job_definition_json)
    fake.reply(200, plan.pipeline_json)


def test_deploy_uploads_the_files_then_publishes_both_artifacts(
    fake: FakeSynapse, job_container: ContainerClient, azurite_plan: DeployPlan,
) -> None:
    operation = f"{fake.url}/operationResults/op-1?api-version={API_VERSION}"
    # The job definition is a long-running operation: 202, then polled until done.
    fake.reply(202, {}, {"Location": operation, "Retry-After": "0"})
    fake.reply(202, {}, {"Location": operation, "Retry-After": "0"})
    fake.reply(200, azurite_plan.job_definition_json)
    fake.reply(200, azurite_plan.pipeline_json)

    with deployer_for(fake, job_container) as deployer:
        report = deployer.deploy(azurite_plan)

    assert (report.uploaded, report.unchanged) == (("job.py", PACKAGE, "requirements.txt"), ())
    assert [(r.method, r.path) for r in fake.requests] == [
        ("PUT", "/sparkJobDefinitions/shoplake-refresh-job"),
        ("GET", "/operationResults/op-1"),
        ("GET", "/operationResults/op-1"),
        ("PUT", "/pipelines/shoplake-refresh"),
    ]
    assert all(r.query["api-version"] == [API_VERSION] for r in fake.requests)
    assert all(r.headers["Authorization"] == "Bearer test-token" for r in fake.requests)
    assert fake.requests[0].json() == without_name(azurite_plan.job_definition_json)
    assert fake.requests[3].json() == without_name(azurite_plan.pipeline_json)
    for file in azurite_plan.files:
        blob = job_container.get_blob_client(f"jobs/{file.name}")
        assert blob.download_blob().readall() == file.data
        assert blob.get_blob_properties().metadata == {HASH_METADATA: file.sha256}


def test_a_second_deploy_uploads_nothing_and_a_changed_file_alone(
    fake: FakeSynapse, job_container: ContainerClient, azurite_plan: DeployPlan,
) -> None:
    for _ in range(3):
        published(fake, azurite_plan)
    changed = dataclasses.replace(azurite_plan, files=(
        *azurite_plan.files[:2], JobFile("requirements.txt", b"deltalake==1.6.6\n")))

    with deployer_for(fake, job_container) as deployer:
        first = deployer.deploy(azurite_plan)
        etags = {blob.name: blob.etag for blob in job_container.list_blobs()}
        second = deployer.deploy(azurite_plan)
        third = deployer.deploy(changed)

    assert len(first.uploaded) == 3
    assert (second.uploaded, second.unchanged) == ((), ("job.py", PACKAGE, "requirements.txt"))
    assert third.uploaded == ("requirements.txt",)
    assert {blob.name: blob.etag for blob in job_container.list_blobs()
            if blob.name != "jobs/requirements.txt"} == {
        name: etag for name, etag in etags.items() if name != "jobs/requirements.txt"}
    # The artifacts are put every time: create-or-update is idempotent on Synapse's side.
    assert [r.method for r in fake.requests] == ["PUT"] * 6


@pytest.mark.timeout(60)  # an uncapped Retry-After would sleep for an hour
def test_a_throttled_publish_is_retried(fake: FakeSynapse, job_container: ContainerClient,
                                        azurite_plan: DeployPlan) -> None:
    fake.reply(429, {"error": {"code": "TooManyRequests", "message": "slow down"}},
               {"Retry-After": "3600"})
    published(fake, azurite_plan)

    with deployer_for(fake, job_container) as deployer:
        deployer.deploy(azurite_plan)

    assert [(r.method, r.path) for r in fake.requests] == [
        ("PUT", "/sparkJobDefinitions/shoplake-refresh-job"),
        ("PUT", "/sparkJobDefinitions/shoplake-refresh-job"),
        ("PUT", "/pipelines/shoplake-refresh"),
    ]


def test_a_failed_operation_is_one_line(fake: FakeSynapse, job_container: ContainerClient,
                                        azurite_plan: DeployPlan) -> None:
    operation = f"{fake.url}/operationResults/op-2"
    fake.reply(202, {}, {"Location": operation, "Retry-After": "0"})
    fake.reply(400, {"error": {"code": "BigDataPoolNotFound",
                               "message": "Spark pool 'shoplake' was not found\nin the workspace"}})

    with deployer_for(fake, job_container) as deployer, pytest.raises(SynapseError) as raised:
        deployer.deploy(azurite_plan)

    assert str(raised.value) == (
        "publishing Spark job definition 'shoplake-refresh-job' failed: HTTP 400 "
        "BigDataPoolNotFound Spark pool 'shoplake' was not found in the workspace")
    assert [r.path for r in fake.requests][-1] == "/operationResults/op-2"


def test_a_missing_job_container_is_one_line(fake: FakeSynapse, azurite: Azurite) -> None:
    container = ContainerClient.from_connection_string(azurite.connection_string, "absent")
    plan = plan_deploy(settings(folder="abfss://absent@devstoreaccount1.dfs.core.windows.net/"))

    with deployer_for(fake, container) as deployer, pytest.raises(SynapseError) as raised:
        deployer.deploy(plan)

    assert str(raised.value).startswith(
        "uploading job.py to abfss://absent@devstoreaccount1.dfs.core.windows.net failed: "
        "HTTP 404 ")
    assert "\n" not in str(raised.value)
    assert fake.requests == []


@pytest.mark.parametrize(("status", "code"), [(400, "BadRequest"), (500, "InternalServerError")])
def test_the_command_reports_a_refusal_in_one_line_and_exits_1(
    status: int, code: str, fake: FakeSynapse, job_container: ContainerClient,
    azurite_plan: DeployPlan, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
) -> None:
    for _ in range(4):  # a 500 is retried (3 times) before it counts
        fake.reply(status, {"error": {"code": code, "message": "Invalid\nrequest"}})
    monkeypatch.setattr("shoplake.synapse_deploy.open_deployer",
                        lambda _settings: deployer_for(fake, job_container))
    monkeypatch.setenv("SYNAPSE_JOB_FOLDER", azurite_plan.folder.url)
    monkeypatch.setattr("sys.argv", ["shoplake", "--lake", LAKE, "synapse", "deploy"])

    with pytest.raises(SystemExit) as exit_info:
        main()

    output = capsys.readouterr()
    assert exit_info.value.code == 1
    assert output.err == (f"synapse deploy failed: publishing Spark job definition "
                          f"'shoplake-refresh-job' failed: HTTP {status} {code} Invalid request\n")
    assert output.out == ""


# -- the command -----------------------------------------------------------------------


def test_dry_run_prints_what_would_be_published_and_contacts_nothing() -> None:
    """The installed command, in a fresh process; the endpoint would fail any request."""
    env = {**os.environ, "LAKE_URL": LAKE, "SYNAPSE_JOB_FOLDER": FOLDER,
           "SYNAPSE_ENDPOINT": "https://127.0.0.1:9"}
    done = subprocess.run([*SHOPLAKE_COMMAND, "synapse", "deploy", "--dry-run", "--json"],
                          capture_output=True, text=True, timeout=120, check=False, env=env)

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    plan = plan_deploy(settings())
    assert shown == {"dry_run": True, **plan.describe()}
    assert shown["package"] == {"files": len(plan.package.names),
                                "bytes": len(plan.package.file.data),
                                "sha256": plan.package.file.sha256}
    assert shown["pipeline"]["definition"] == plan.pipeline_json
    assert [upload["url"] for upload in shown["uploads"]] == [
        f"{FOLDER}/job.py", f"{FOLDER}/{PACKAGE}", f"{FOLDER}/requirements.txt"]


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *arguments: str,
             **environment: str) -> tuple[int | str | None, str, str]:
    """`shoplake synapse deploy ARGUMENTS` in this process: (exit code, stdout, stderr)."""
    return run_shoplake(monkeypatch, capsys, ["synapse", "deploy", *arguments],
                        {"LAKE_URL": LAKE, "SYNAPSE_JOB_FOLDER": FOLDER, **environment})


def test_dry_run_as_text_names_the_artifacts_and_the_package(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_main(monkeypatch, capsys, "--dry-run")
    plan = plan_deploy(settings())

    assert (code, err) == (0, "")
    assert out.startswith("dry run: nothing uploaded or published\n")
    assert f"package: {len(plan.package.names)} files, sha256 {plan.package.file.sha256}" in out
    assert "would publish Spark job definition shoplake-refresh-job:" in out
    assert "would publish pipeline shoplake-refresh:" in out
    assert '"requiredSparkVersion": "3.5"' in out


def test_a_missing_setting_is_a_one_line_usage_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_main(monkeypatch, capsys, "--dry-run", SYNAPSE_JOB_FOLDER="")

    assert (code, out) == (2, "")
    assert err.startswith("configuration error: SYNAPSE_JOB_FOLDER is not set")
    assert err.count("\n") == 1


def test_deploy_without_an_endpoint_says_what_to_set(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_main(monkeypatch, capsys, SYNAPSE_ENDPOINT="")

    assert code == 2
    assert err.startswith("configuration error: SYNAPSE_ENDPOINT is not set")


def test_job_folder_parts() -> None:
    folder = JobFolder.parse("abfss://synapse@stsyn.dfs.core.chinacloudapi.cn/a/b/")

    assert (folder.url, folder.blob_endpoint, folder.blob_name("job.py")) == (
        "abfss://synapse@stsyn.dfs.core.chinacloudapi.cn/a/b",
        "https://stsyn.blob.core.chinacloudapi.cn", "a/b/job.py")
