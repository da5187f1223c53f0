"""Publish shoplake's Spark job and pipeline to a Synapse workspace (`shoplake synapse deploy`).

`infra/synapse/` holds the artifacts as Synapse's REST API shapes them, with `${name}`
placeholders for what differs per deployment (pool, job folder, lake, names). A deploy:

1. builds the package zip (`shared/` and `shoplake/`: their modules and data files) the same
   way every time, so the same tree gives the same bytes;
2. uploads `job.py`, the zip and `requirements.txt` into SYNAPSE_JOB_FOLDER in the workspace's
   storage, each only when its content differs from what is there (idempotent);
3. creates or updates the Spark job definition, then the pipeline that references it, through
   azure-synapse-artifacts, waiting for each long-running operation.

`plan_deploy` does everything but step 2 and 3's I/O, so `--dry-run` can show what would be
published without contacting anything.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.synapse.artifacts.models import PipelineResource, SparkJobDefinitionResource

from shared.settings import ConfigurationError, Settings
from shared.synapse import SynapseError, open_artifacts_client, synapse_error

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.polling import LROPoller
    from azure.storage.blob import ContainerClient

    Artifact = SparkJobDefinitionResource | PipelineResource

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = "infra/synapse"  # below the repository root
DEFAULT_PIPELINE = "shoplake-refresh"
PACKAGE = "shoplake.zip"
# The package's data files (pyproject.toml's package-data for `shared`): the warehouse's SQL
# and specs, the batch mappings, the event schema.
PACKAGE_DATA = (
    "shared/analytics/kpis/*.sql",
    "shared/analytics/kpis/*.toml",
    "shared/events/*.json",
    "shared/batch/mappings/*.toml",
    "shared/warehouse/tables/*.sql",
    "shared/warehouse/tables/*.toml",
)
# Blob metadata holding a file's sha256: an unchanged file is not uploaded again.
HASH_METADATA = "sha256"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # zip's epoch: no build time in the bytes
# Keys Synapse takes that the SDK's models do not declare: Livy's pyFiles of a Spark job.
_UNMODELLED = frozenset({("SparkJobProperties", "pyFiles")})
_CONTENT_TYPES = {".py": "text/x-python", ".zip": "application/zip", ".txt": "text/plain"}


@dataclass(frozen=True)
class JobFolder:
    """A folder in ADLS Gen2, `abfss://container@account.dfs.<suffix>/path` (the job folder, or
    the lake's root)."""

    container: str
    account: str
    suffix: str
    path: str

    @classmethod
    def parse(cls, url: str, setting: str = "SYNAPSE_JOB_FOLDER") -> JobFolder:
        """`url`, which the setting named `setting` holds (named in the error)."""
        parts = urlsplit(url.strip())
        container, _, host = parts.netloc.partition("@")
        account, _, suffix = host.partition(".dfs.")
        if (parts.scheme != "abfss" or not container or not account or not suffix
                or parts.query or parts.fragment):
            raise ConfigurationError(
                f"{setting} {url!r} must look like "
                "abfss://container@account.dfs.core.windows.net/path"
            )
        return cls(container, account, suffix, parts.path.strip("/"))

    @property
    def url(self) -> str:
        base = f"abfss://{self.container}@{self.account}.dfs.{self.suffix}"
        return f"{base}/{self.path}" if self.path else base

    @property
    def https_url(self) -> str:
        """The same folder as Synapse SQL names it: https://account.dfs.<suffix>/container/path."""
        base = f"https://{self.account}.dfs.{self.suffix}/{self.container}"
        return f"{base}/{self.path}" if self.path else base

    @property
    def blob_endpoint(self) -> str:
        return f"https://{self.account}.blob.{self.suffix}"

    def blob_name(self, name: str) -> str:
        """`name`'s blob in the container."""
        return f"{self.path}/{name}" if self.path else name


@dataclass(frozen=True)
class JobFile:
    """One file the Spark job needs in the job folder."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES.get(Path(self.name).suffix, "application/octet-stream")


@dataclass(frozen=True)
class Package:
    """The zipped `shared` and `shoplake` packages (the job definition's pyFiles)."""

    file: JobFile
    names: tuple[str, ...]


def build_package(root: Path = ROOT) -> Package:
    """The package zip of the tree at `root`: files sorted, fixed times and modes."""
    modules = {path for package in ("shared", "shoplake") for path in (root / package).rglob("*.py")
               if "__pycache__" not in path.parts}
    data_files = {path for pattern in PACKAGE_DATA for path in root.glob(pattern)}
    names = sorted(path.relative_to(root).as_posix() for path in modules | data_files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            entry = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, (root / name).read_bytes(), compresslevel=9)
    return Package(JobFile(PACKAGE, buffer.getvalue()), tuple(names))


@dataclass(frozen=True)
class DeployPlan:
    """What a deploy publishes, resolved offline: the job's files and both artifacts' JSON."""

    pipeline: str
    job_definition: str
    spark_pool: str
    folder: JobFolder
    package: Package
    files: tuple[JobFile, ...]
    job_definition_json: dict[str, Any]
    pipeline_json: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        """The plan as plain data (`--dry-run --json`)."""
        package = self.package.file
        return {
            "spark_job_definition": {"name": self.job_definition,
                                     "definition": self.job_definition_json},
            "pipeline": {"name": self.pipeline, "definition": self.pipeline_json},
            "package": {"files": len(self.package.names), "bytes": len(package.data),
                        "sha256": package.sha256},
            "uploads": [{"name": file.name, "url": f"{self.folder.url}/{file.name}",
                         "bytes": len(file.data), "sha256": file.sha256}
                        for file in self.files],
        }


def plan_deploy(settings: Settings, root: Path = ROOT) -> DeployPlan:
    """The deploy the settings describe (reads local files only)."""
    if not (root / ARTIFACTS).is_dir():
        raise ConfigurationError(f"{root / ARTIFACTS} is missing: shoplake synapse deploy "
                                 "runs from a checkout of the repository")
    if not settings.synapse_job_folder:
        raise ConfigurationError(
            "SYNAPSE_JOB_FOLDER is not set: name the folder in the workspace's storage for the "
            "Spark job's files, abfss://container@account.dfs.core.windows.net/path "
            "(azd env get-value SYNAPSE_JOB_FOLDER)"
        )
    folder = JobFolder.parse(settings.synapse_job_folder)
    if urlsplit(settings.lake_url).scheme != "abfss":
        raise ConfigurationError(
            f"LAKE_URL {settings.lake_url!r} is not an ADLS Gen2 lake: the Synapse job reads "
            "and writes abfss://container@account.dfs.core.windows.net/path"
        )
    pipeline = settings.synapse_pipeline or DEFAULT_PIPELINE
    job_definition = f"{pipeline}-job"
    values = {"pipeline": pipeline, "spark_job_definition": job_definition,
              "spark_pool": settings.synapse_spark_pool, "job_folder": folder.url,
              "lake_url": settings.lake_url}
    package = build_package(root)
    artifacts = root / ARTIFACTS
    files = (JobFile("job.py", (artifacts / "job.py").read_bytes()), package.file,
             JobFile("requirements.txt", (artifacts / "requirements.txt").read_bytes()))
    return DeployPlan(
        pipeline, job_definition, settings.synapse_spark_pool, folder, package, files,
        load_artifact("spark_job_definition.json", values, SparkJobDefinitionResource, root),
        load_artifact("pipeline.json", values, PipelineResource, root),
    )


def load_artifact(name: str, values: dict[str, str], model: type[Artifact],
                  root: Path = ROOT) -> dict[str, Any]:
    """`infra/synapse/<name>` with its `${...}` placeholders filled in, checked against the
    SDK's model (REST shape: `Model.deserialize`, which reads `typeProperties`, while
    `from_dict` would take a SparkJob activity for the base Activity)."""
    raw = json.loads((root / ARTIFACTS / name).read_text(encoding="utf-8"))
    resolved = _substitute(raw, values)
    problems = model_problems(as_model(model, resolved), "")
    if problems:
        raise ValueError(f"{ARTIFACTS}/{name} is not a valid {model.__name__}: "
                         + "; ".join(problems))
    return resolved


def as_model(model: type[Artifact], artifact: dict[str, Any]) -> Any:
    """The SDK model of an artifact's REST JSON. On a copy: deserialising pops the activities'
    `type` out of the dicts it reads."""
    return model.deserialize(copy.deepcopy(artifact))


def model_problems(model: Any, where: str) -> list[str]:
    """What the SDK would let through silently: a required field left out, or a key no model
    declares (kept as `additional_properties`, e.g. an activity whose type is misspelled)."""
    problems = [f"{where}.{key} is not a known property"
                for key in getattr(model, "additional_properties", None) or {}
                if (type(model).__name__, key) not in _UNMODELLED]
    for attribute in model._attribute_map:
        value = getattr(model, attribute, None)
        if value is None and model._validation.get(attribute, {}).get("required"):
            problems.append(f"{where}.{attribute} is required")
        children = (value.values() if isinstance(value, dict)
                    else value if isinstance(value, list) else [value])
        for child in children:
            if hasattr(child, "_attribute_map"):
                problems += model_problems(child, f"{where}.{attribute}")
    return problems


def _substitute(value: Any, values: dict[str, str]) -> Any:
    """Placeholders are filled in string by string, after parsing: no JSON escaping issue."""
    if isinstance(value, str):
        return Template(value).substitute(values)
    if isinstance(value, list):
        return [_substitute(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, values) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class DeployReport:
    uploaded: tuple[str, ...]
    unchanged: tuple[str, ...]
    spark_job_definition: str
    pipeline: str


class SynapseDeployer:
    """Uploads the job's files and publishes the artifacts to one workspace."""

    def __init__(
        self,
        endpoint: str,
        credential: TokenCredential,
        storage: ContainerClient,
        *,
        polling_interval: float = 5.0,
        publish_timeout: float = 600.0,
        insecure_loopback: bool = False,
        **client_options: Any,
    ) -> None:
        """`client_options` are `shared.synapse.open_artifacts_client`'s retries and
        timeouts; `storage` is the job folder's container."""
        self._client, self._request_options = open_artifacts_client(
            endpoint, credential, insecure_loopback=insecure_loopback, **client_options)
        self._storage = storage
        self._polling_interval = polling_interval
        self._publish_timeout = publish_timeout

    def deploy(self, plan: DeployPlan) -> DeployReport:
        uploaded = tuple(file.name for file in plan.files if self._upload(plan.folder, file))
        definition = as_model(SparkJobDefinitionResource, plan.job_definition_json)
        self._publish(
            f"publishing Spark job definition {plan.job_definition!r}",
            lambda options: self._client.spark_job_definition
            .begin_create_or_update_spark_job_definition(
                plan.job_definition, definition.properties, **options),
        )
        pipeline = as_model(PipelineResource, plan.pipeline_json)
        self._publish(
            f"publishing Synapse pipeline {plan.pipeline!r}",
            lambda options: self._client.pipeline.begin_create_or_update_pipeline(
                plan.pipeline, pipeline, **options),
        )
        unchanged = tuple(file.name for file in plan.files if file.name not in uploaded)
        return DeployReport(uploaded, unchanged, plan.job_definition, plan.pipeline)

    def _upload(self, folder: JobFolder, file: JobFile) -> bool:
        """Upload `file` unless the blob already holds the same content; True if uploaded."""
        from azure.storage.blob import ContentSettings

        blob = self._storage.get_blob_client(folder.blob_name(file.name))
        try:
            try:
                current = blob.get_blob_properties().metadata.get(HASH_METADATA)
            except ResourceNotFoundError:
                current = None
            if current == file.sha256:
                return False
            # One Put Blob for files this small: readers see the old or the new file.
            blob.upload_blob(file.data, overwrite=True, metadata={HASH_METADATA: file.sha256},
                             content_settings=ContentSettings(content_type=file.content_type))
        except AzureError as error:
            raise synapse_error(f"uploading {file.name} to {folder.url}", error) from None
        return True

    def _publish(self, what: str, begin: Callable[[dict[str, Any]], LROPoller[Any]]) -> None:
        """Start a create-or-update (`begin(options)` returns its poller) and wait for it."""
        try:
            poller = begin({"polling_interval": self._polling_interval, **self._request_options})
            poller.result(timeout=self._publish_timeout)
        except AzureError as error:
            raise synapse_error(what, error) from None
        if not poller.done():
            raise SynapseError(f"{what}: still running after {self._publish_timeout:g} s")

    def close(self) -> None:
        self._client.close()
        self._storage.close()

    def __enter__(self) -> SynapseDeployer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_deployer(settings: Settings) -> SynapseDeployer:
    """The deployer the settings describe, signed in with DefaultAzureCredential (`az login`
    on a laptop, a managed identity in Azure)."""
    if not settings.synapse_endpoint:
        raise ConfigurationError(
            "SYNAPSE_ENDPOINT is not set: the workspace dev endpoint, "
            "https://<workspace>.dev.azuresynapse.net (azd env get-value SYNAPSE_ENDPOINT)"
        )
    folder = JobFolder.parse(settings.synapse_job_folder or "")
    from azure.identity import DefaultAzureCredential  # heavy import; no I/O until a request
    from azure.storage.blob import ContainerClient

    credential = DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    storage = ContainerClient(folder.blob_endpoint, folder.container, credential=credential)
    return SynapseDeployer(settings.synapse_endpoint, credential, storage)
