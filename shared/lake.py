"""The lake: one object that owns every path and how to reach the storage behind it.

A lake root is a URI; only the storage plumbing differs between them:

- `lake`, `/data/lake`, `file:///data/lake`: a local folder for files and tables.
- `az://container/path` with an account-key connection string: Azure blob storage (Azurite
  locally) for files; `az://` tables with the key and the endpoint.
- `abfss://container@account.dfs.core.windows.net/path`: ADLS Gen2 with an identity; tables
  get a bearer token from azure-identity.
"""

from __future__ import annotations

import base64
import fcntl
import io
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import SchemaMismatchError
from deltalake.transaction import AddAction, create_table_with_add_actions

from shared import lease
from shared.lease import LeasePolicy
from shared.settings import ConfigurationError, Settings
from shared.storage import StaleWriteError, Versioned, Zone

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, ContainerClient

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
STORAGE_SCOPE = "https://storage.azure.com/.default"
logger = logging.getLogger("shoplake.lake")
TOKEN_REFRESH_MARGIN_S = 300
ORPHAN_GRACE_S = 3600.0
"""A temporary file older than this was left by a writer that died (writes take seconds)."""
BLOCK_BYTES = 8 * 1024 * 1024
"""Size of the blocks a streamed Azure upload stages before committing them."""


class LakeConfigError(ConfigurationError):
    """The lake URL or its credentials are unusable; the message says what to set."""


class TokenCredential(Protocol):
    """The part of `azure.core.credentials.TokenCredential` the lake uses."""

    def get_token(self, *scopes: str) -> Any: ...


@dataclass(frozen=True)
class StorageAccount:
    """An Azure storage account as an account-key connection string describes it."""

    name: str
    key: str
    blob_endpoint: str | None = None  # only set for emulators and custom domains

    @classmethod
    def from_connection_string(cls, connection_string: str) -> StorageAccount:
        parts = dict(
            item.split("=", 1) for item in connection_string.strip().split(";") if "=" in item
        )
        if parts.get("UseDevelopmentStorage", "").lower() == "true":
            return cls(AZURITE_ACCOUNT, AZURITE_KEY, f"http://127.0.0.1:10000/{AZURITE_ACCOUNT}")
        try:
            name, key = parts["AccountName"], parts["AccountKey"]
        except KeyError as missing:
            raise LakeConfigError(
                f"LAKE_STORAGE_CONNECTION_STRING lacks {missing.args[0]}; expected "
                "'AccountName=...;AccountKey=...[;BlobEndpoint=...]'"
            ) from None
        endpoint = parts.get("BlobEndpoint")
        if endpoint and urlsplit(endpoint).hostname == f"{name}.blob.core.windows.net":
            endpoint = None
        return cls(name, key, endpoint.rstrip("/") if endpoint else None)

    @property
    def blob_url(self) -> str:
        return self.blob_endpoint or f"https://{self.name}.blob.core.windows.net"


class Lake:
    """Paths, files and Delta tables under one lake root."""

    def __init__(
        self,
        url: str,
        filesystem: pafs.FileSystem,
        base_path: str,
        table_base_uri: str,
        storage_options: Callable[[], dict[str, str]] | None = None,
        container: Callable[[], ContainerClient] | None = None,
        lease_policy: LeasePolicy | None = None,
    ) -> None:
        self.url = url
        self.fs = filesystem
        self._base = base_path.rstrip("/")
        self._table_base = table_base_uri.rstrip("/")
        self._storage_options = storage_options or dict
        self._local = isinstance(filesystem, pafs.LocalFileSystem)
        self._known_dirs: set[str] = set()
        self._root_ready = self._local  # deltalake creates local folders, not containers
        self._container_factory = container
        self._container: ContainerClient | None = None
        self.lease_policy = lease_policy or LeasePolicy()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential | None = None) -> Lake:
        return cls.open(
            settings.lake_url,
            connection_string=settings.lake_storage_connection_string,
            client_id=settings.azure_client_id,
            credential=credential,
            lease_policy=LeasePolicy(settings.lake_lease_seconds,
                                     settings.lake_lease_wait_seconds,
                                     settings.lake_lease_keep_seconds),
        )

    @classmethod
    def open(
        cls,
        url: str,
        *,
        connection_string: str | None = None,
        client_id: str | None = None,
        credential: TokenCredential | None = None,
        lease_policy: LeasePolicy | None = None,
    ) -> Lake:
        lake = cls._open(url, connection_string, client_id, credential)
        if lease_policy is not None:
            lake.lease_policy = lease_policy
        return lake

    @classmethod
    def _open(cls, url: str, connection_string: str | None, client_id: str | None,
              credential: TokenCredential | None) -> Lake:
        parts = urlsplit(url)
        if parts.scheme in ("", "file") or (len(parts.scheme) == 1 and os.name == "nt"):
            local = Path(parts.path if parts.scheme == "file" else url).expanduser().resolve()
            return cls(str(local), pafs.LocalFileSystem(), str(local), str(local))
        if parts.scheme == "az":
            return cls._open_az(url, parts.netloc, parts.path, connection_string)
        if parts.scheme == "abfss":
            return cls._open_abfss(url, parts.netloc, parts.path, connection_string, client_id,
                                   credential)
        raise LakeConfigError(
            f"unsupported lake URL {url!r}: use a local folder, az://container/path or "
            "abfss://container@account.dfs.core.windows.net/path"
        )

    @classmethod
    def _open_az(cls, url: str, container: str, path: str, connection_string: str | None) -> Lake:
        if not container:
            raise LakeConfigError(f"lake URL {url!r} names no container (az://container/path)")
        if not connection_string:
            raise LakeConfigError(
                "an az:// lake needs LAKE_STORAGE_CONNECTION_STRING (Azurite: "
                "UseDevelopmentStorage=true); for managed identity use "
                "abfss://container@account.dfs.core.windows.net/path"
            )
        account = StorageAccount.from_connection_string(connection_string)
        options = {"account_name": account.name, "account_key": account.key}
        fs_args: dict[str, str] = {}
        if account.blob_endpoint:
            endpoint = urlsplit(account.blob_endpoint)
            options["endpoint"] = account.blob_endpoint
            if endpoint.scheme == "http":
                options["allow_http"] = "true"
            # Emulators need every authority pointed at them, or pyarrow calls real Azure hosts.
            fs_args = {
                "blob_storage_authority": endpoint.netloc,
                "blob_storage_scheme": endpoint.scheme,
                "dfs_storage_authority": endpoint.netloc,
                "dfs_storage_scheme": endpoint.scheme,
            }
        filesystem = pafs.AzureFileSystem(account.name, account_key=account.key, **fs_args)
        base = f"{container}{path}"
        return cls(url, filesystem, base, f"az://{base}", lambda: dict(options),
                   _container_client(account.blob_url, container,
                                     {"account_name": account.name,
                                      "account_key": account.key}))

    @classmethod
    def _open_abfss(
        cls,
        url: str,
        netloc: str,
        path: str,
        connection_string: str | None,
        client_id: str | None,
        credential: TokenCredential | None,
    ) -> Lake:
        container, _, host = netloc.partition("@")
        account_name = host.split(".", 1)[0]
        if not container or not host.endswith(".dfs.core.windows.net"):
            raise LakeConfigError(
                f"lake URL {url!r} must look like "
                "abfss://container@account.dfs.core.windows.net/path"
            )
        if connection_string:
            account = StorageAccount.from_connection_string(connection_string)
            filesystem = pafs.AzureFileSystem(account.name, account_key=account.key)
            options = {"account_name": account.name, "account_key": account.key}
            return cls(url, filesystem, f"{container}{path}", url, lambda: dict(options),
                       _container_client(account.blob_url, container,
                                         {"account_name": account.name,
                                          "account_key": account.key}))
        # pyarrow authenticates itself (managed identity when client_id is set, else the
        # default credential chain); deltalake and blob writes use azure-identity.
        filesystem = pafs.AzureFileSystem(account_name, client_id=client_id)
        identity = credential or _default_credential(client_id)
        tokens = _TokenCache(identity)
        return cls(
            url,
            filesystem,
            f"{container}{path}",
            url,
            lambda: {"account_name": account_name, "bearer_token": tokens.token()},
            _container_client(f"https://{host.replace('.dfs.', '.blob.', 1)}", container,
                              identity),
        )

    @property
    def local(self) -> bool:
        """A folder on this machine (not blob storage)."""
        return self._local

    # -- paths ----------------------------------------------------------------------------

    def path(self, zone: Zone, *parts: str) -> str:
        """Path of a file or folder for `self.fs`."""
        return "/".join([self._base, zone.value, *parts])

    def table_uri(self, zone: Zone, *parts: str) -> str:
        """URI of a Delta table for `deltalake`."""
        return "/".join([self._table_base, zone.value, *parts])

    def uri(self, path: str) -> str:
        """The URI of a file or folder at `path` (for `self.fs`), for other engines (Spark):
        the same form as `table_uri`."""
        return "/".join([self._table_base, self.relative(path)])

    @property
    def storage_options(self) -> dict[str, str]:
        """Options for deltalake; recomputed per call so identity tokens stay fresh."""
        return self._storage_options()

    def relative(self, path: str) -> str:
        """A filesystem path as it reads under the lake root (for logs and summaries)."""
        return path[len(self._base) + 1 :] if path.startswith(self._base + "/") else path

    # -- files ----------------------------------------------------------------------------

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole file so that readers see the old file or the new one, never half."""
        if self._container_factory is not None:
            self._put_blob(path, data)  # one request: the blob changes whole or not at all
            return
        with self.open_output(path) as out:
            out.write(data)

    @contextmanager
    def open_output(self, path: str) -> Iterator[pa.NativeFile]:
        """A stream whose file appears whole when the block ends, and not at all on error.

        On Azure the bytes are staged as blocks and committed as one block list at the
        end, so a failed write commits nothing and a file being replaced keeps its old
        content until then (pyarrow's own Azure streams empty the blob when they open).
        Locally a temporary file is renamed.
        """
        if self._container_factory is not None:
            upload = _BlockUpload(self, path)
            yield pa.PythonFile(upload, mode="w")
            upload.commit()
            return
        parent = path.rsplit("/", 1)[0]
        if parent not in self._known_dirs:
            self.fs.create_dir(parent, recursive=True)
            self._known_dirs.add(parent)
        temporary = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open_output_stream(temporary, compression=None) as out:
                yield out
            self.fs.move(temporary, path)
        except BaseException:
            if self.exists(temporary):
                self.fs.delete_file(temporary)
            raise

    def read_versioned(self, path: str) -> Versioned:
        """The file's bytes with their version (an ETag on Azure), for `write_bytes_if`."""
        if self._container_factory is not None:
            from azure.core.exceptions import ResourceNotFoundError

            try:
                download = self._blob(path).download_blob()
            except ResourceNotFoundError:
                return Versioned(None, None)
            return Versioned(download.readall(), download.properties.etag)
        try:
            with open(path, "rb") as file:
                return Versioned(file.read(), _local_version(os.fstat(file.fileno())))
        except FileNotFoundError:
            return Versioned(None, None)

    def read_json(self, path: str) -> tuple[Any, str | None]:
        """A JSON state file's value and version. The value is None when the file is absent
        or damaged (not JSON: cut short by a storage that misbehaved, or emptied by an old
        version's writer): callers take it as missing and write it anew, rather than fail
        on it forever."""
        stored = self.read_versioned(path)
        if stored.data is None:
            return None, None
        try:
            return orjson.loads(stored.data), stored.version
        except orjson.JSONDecodeError:
            logger.warning("%s is damaged (%d bytes, not JSON): taken as missing",
                           self.relative(path), len(stored.data))
            return None, stored.version

    def write_bytes_if(self, path: str, data: bytes, expected: str | None) -> str:
        """Replace the file only if it is still at version `expected` (None: only if it
        does not exist); else raise `StaleWriteError`. Returns the new version."""
        if self._container_factory is not None:
            from azure.core import MatchConditions
            from azure.core.exceptions import (
                ResourceExistsError,
                ResourceModifiedError,
                ResourceNotFoundError,
            )

            try:
                if expected is None:
                    written = self._put_blob(path, data, overwrite=False)
                else:
                    written = self._blob(path).upload_blob(
                        data, overwrite=True, etag=expected,
                        match_condition=MatchConditions.IfNotModified)
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                raise StaleWriteError(f"{self.relative(path)} changed since it was read") from None
            return str(written["etag"])
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        temporary = f"{parent}/.tmp-{uuid.uuid4().hex}"
        with open(temporary, "wb") as file:
            file.write(data)
        version = _local_version(os.stat(temporary))
        try:
            with self._local_lock():
                try:
                    current = _local_version(os.stat(path))
                except FileNotFoundError:
                    current = None
                if current != expected:
                    raise StaleWriteError(f"{self.relative(path)} changed since it was read")
                os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
        return version

    def remove_orphans(self, older_than_s: float = ORPHAN_GRACE_S) -> int:
        """Delete what writers which died left behind; how many files (a new run calls it
        when it takes the lake, which it then has to itself).

        - Files another engine staged for a table (`_state/spark/`: Spark's output before
          the driver adopted it), whatever their age: their run is over.
        - Temporary files older than `older_than_s`; only local lakes have them: an
          interrupted Azure write commits no blob (its staged blocks are discarded).
        """
        staged = self.path(Zone.STATE, "spark")
        removed = len(self.file_infos(staged))
        if removed:
            self.fs.delete_dir_contents(staged, missing_dir_ok=True)
        if not self._local or not os.path.isdir(self._base):
            return removed
        cutoff = time.time() - older_than_s
        for folder, _, names in os.walk(self._base):
            for name in names:
                if name.startswith(".tmp-"):
                    orphan = os.path.join(folder, name)
                    try:
                        if os.stat(orphan).st_mtime < cutoff:
                            os.remove(orphan)
                            removed += 1
                    except FileNotFoundError:  # its writer finished or another cleaner won
                        continue
        return removed

    def writer(self, run: str | None = None, *, keep: bool | None = None
               ) -> AbstractContextManager[str]:
        """Hold the lake's writer lease (see `shared.lease`) inside the block.

        `run` names a longer run this block is one step of (the nightly run's instance):
        the run then keeps the lake after the block (unless `keep` is False), until its
        last step releases it (`release_writer`). Without one, the block joins the writer
        block it is nested in, or is a run of its own, handed back at the end.
        """
        return lease.hold(self, self.lease_policy, run,
                          keep=run is not None if keep is None else keep)

    def release_writer(self, run: str) -> bool:
        """The end of `run`: hand the lake back (False when the run held nothing)."""
        return lease.release(self, run)

    @contextmanager
    def _local_lock(self) -> Iterator[None]:
        """Serialise compare-and-swap writes of every process on this machine."""
        folder = f"{self._base}/{Zone.STATE.value}"
        os.makedirs(folder, exist_ok=True)
        with open(f"{folder}/.lock", "a") as guard:  # flock: per open file, so per caller
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)

    def _blob(self, path: str) -> BlobClient:
        if self._container is None:
            assert self._container_factory is not None
            self._container = self._container_factory()
        return self._container.get_blob_client(path.split("/", 1)[1])

    def _put_blob(self, path: str, data: bytes, *, overwrite: bool = True) -> dict[str, Any]:
        return self._in_container(lambda: self._blob(path).upload_blob(data,
                                                                       overwrite=overwrite))

    def _in_container(self, call: Callable[[], Any]) -> Any:
        """Run a blob call, creating the lake's container first if it does not exist."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        try:
            return call()
        except ResourceNotFoundError as error:
            if getattr(error, "error_code", None) != "ContainerNotFound":
                raise
        assert self._container is not None
        with suppress(ResourceExistsError):
            self._container.create_container()
        return call()

    def open_input(self, path: str) -> pa.NativeFile:
        """A sequential read stream of the bytes as stored (large uploads are never read
        into memory whole; pyarrow would otherwise guess a codec from the file name)."""
        return self.fs.open_input_stream(path, compression=None)

    def read_bytes(self, path: str) -> bytes:
        with self.open_input(path) as stream:
            return stream.read()

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def list_files(self, folder: str, suffix: str = "") -> list[str]:
        """Every file below `folder` (recursively), sorted; empty when the folder is absent."""
        return [info.path for info in self.file_infos(folder, suffix)]

    def file_infos(self, folder: str, suffix: str = "") -> list[pafs.FileInfo]:
        """Like `list_files`, with sizes: one listing call, however many files."""
        selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
        return sorted(
            (
                info
                for info in self.fs.get_file_info(selector)
                if info.type == pafs.FileType.File
                and info.path.endswith(suffix)
                and not info.base_name.startswith(".")  # temporary files, locks
            ),
            key=lambda info: info.path,
        )

    # -- tables ---------------------------------------------------------------------------

    def table(self, zone: Zone, *parts: str) -> DeltaTable:
        return DeltaTable(self.table_uri(zone, *parts), storage_options=self.storage_options)

    def table_exists(self, zone: Zone, *parts: str) -> bool:
        return DeltaTable.is_deltatable(
            self.table_uri(zone, *parts), storage_options=self.storage_options
        )

    def write_table(
        self,
        data: pa.Table | pa.RecordBatchReader,
        zone: Zone,
        *parts: str,
        mode: str = "append",
        partition_by: Iterable[str] | None = None,
        predicate: str | None = None,
        table: DeltaTable | None = None,
    ) -> None:
        """Write a Delta table (pass `table` when it is already open: saves reloading it).

        Every write is one that Delta checks against concurrent commits: a missing table
        is first created empty (of two creators, one wins and both then write to it),
        and replacing a whole table is an overwrite whose predicate matches every row, so
        a writer that raced another fails instead of adding a second copy of the rows.
        """
        lease.check_held(self)
        if not self._root_ready:
            self.fs.create_dir(self._base, recursive=True)  # creates the container if absent
            self._root_ready = True
        partitions = list(partition_by) if partition_by else None
        if table is None:
            table = self._create_table(zone, parts, data.schema, partitions)
        whole = mode == "overwrite" and predicate is None
        try:
            write_deltalake(table, data, mode=mode,  # type: ignore[arg-type]
                            partition_by=partitions, predicate="true" if whole else predicate)
        except SchemaMismatchError:
            if not whole:
                raise
            # Replacing a whole table may change its columns (a transform gained one).
            write_deltalake(table, data, mode="overwrite", partition_by=partitions,
                            schema_mode="overwrite")

    def _create_table(self, zone: Zone, parts: tuple[str, ...], schema: pa.Schema,
                      partition_by: list[str] | None) -> DeltaTable:
        """The table, created empty first when it does not exist."""
        uri, options = self.table_uri(zone, *parts), self.storage_options
        if not DeltaTable.is_deltatable(uri, storage_options=options):
            try:
                DeltaTable.create(uri, schema, mode="ignore", partition_by=partition_by,
                                  storage_options=options)
            except Exception:
                if not DeltaTable.is_deltatable(uri, storage_options=options):
                    raise
                # Another writer created it first: write to theirs.
        return DeltaTable(uri, storage_options=options)

    def adopt_files(self, staged: str, zone: Zone, *parts: str, schema: pa.Schema,
                    partition_by: str | None, partitions: list[str] | None,
                    table: DeltaTable | None = None) -> None:
        """Make the Parquet files under the folder `staged` (hive-partitioned by
        `partition_by`, as another engine wrote them) the table's rows of `partitions`
        (values of `partition_by`), or its whole content when None, in one Delta commit.

        The files move into the table's folder first (a rename on local disks and ADLS
        Gen2, a copy on flat blob storage); if the commit fails they are unreferenced files,
        which Delta ignores.
        """
        lease.check_held(self)
        uri, options = self.table_uri(zone, *parts), self.storage_options
        actions = [self._adopt(info, staged, zone, parts)
                   for info in self.file_infos(staged, ".parquet")]
        partition_columns = [partition_by] if partition_by else None
        if table is None and not DeltaTable.is_deltatable(uri, storage_options=options):
            create_table_with_add_actions(uri, DeltaSchema.from_arrow(schema), actions,
                                          mode="error", partition_by=partition_columns,
                                          storage_options=options)
        else:
            (table or self.table(zone, *parts)).create_write_transaction(
                actions, mode="overwrite", schema=schema, partition_by=partition_columns,
                partition_filters=None if partitions is None
                else [(partition_by, "in", partitions)])

    def _adopt(self, info: pafs.FileInfo, staged: str, zone: Zone,
               parts: tuple[str, ...]) -> AddAction:
        relative = info.path[len(staged) + 1:]
        target = self.path(zone, *parts, relative)
        self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        try:
            self.fs.move(info.path, target)
        except NotImplementedError:  # blob storage without a hierarchical namespace
            self.fs.copy_file(info.path, target)
            self.fs.delete_file(info.path)
        with self.fs.open_input_file(target) as file:
            rows = pq.read_metadata(file).num_rows
        values = dict(unquote(part).split("=", 1) for part in relative.split("/")[:-1])
        return AddAction(relative, info.size, values,
                         int(info.mtime.timestamp() * 1000) if info.mtime else 0, True,
                         orjson.dumps({"numRecords": rows}).decode())

    def merge_table(self, data: pa.Table, zone: Zone, *parts: str, key: Iterable[str],
                    scope: tuple[str, Iterable[str]] | None = None) -> None:
        """Make the table's rows equal `data` in one commit, rewriting only changed rows.

        With `scope` (column, values), `data` holds only the rows of those values, and only
        their rows are deleted when absent from it; all other rows stay as they are.
        """
        lease.check_held(self)
        matches = " AND ".join(f'target."{k}" = source."{k}"' for k in key)
        # Parenthesised: delta-rs binds IS DISTINCT FROM more loosely than OR.
        changed = " OR ".join(f'(target."{c}" IS DISTINCT FROM source."{c}")'
                              for c in data.schema.names)
        in_scope = None
        if scope is not None:
            column, values = scope
            quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in sorted(values))
            in_scope = f'target."{column}" IN ({quoted})'
        (
            self.table(zone, *parts)
            .merge(data, matches, source_alias="source", target_alias="target")
            .when_matched_update_all(predicate=changed)
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(predicate=in_scope)
            .execute()
        )

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"


class _TokenCache:
    """Caches an access token and renews it shortly before it expires."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential
        self._token: str | None = None
        self._expires_on = 0.0

    def token(self) -> str:
        if self._token is None or self._expires_on - time.time() < TOKEN_REFRESH_MARGIN_S:
            access = self._credential.get_token(STORAGE_SCOPE)
            self._token, self._expires_on = access.token, float(access.expires_on)
        return self._token


class _BlockUpload(io.RawIOBase):
    """A blob written as staged blocks and committed as one block list by `commit`."""

    def __init__(self, lake: Lake, path: str) -> None:
        super().__init__()
        self._lake = lake
        self._path = path
        self._buffer = bytearray()
        self._blocks: list[str] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        self._written += len(view)
        if len(self._buffer) >= BLOCK_BYTES:
            self._stage()
        return len(view)

    def tell(self) -> int:
        return self._written

    def _stage(self) -> None:
        block_id = base64.b64encode(f"{len(self._blocks):010d}".encode()).decode()
        data = bytes(self._buffer)
        blob = self._lake._blob(self._path)
        self._lake._in_container(lambda: blob.stage_block(block_id, data))
        self._blocks.append(block_id)
        self._buffer.clear()

    def commit(self) -> None:
        if not self._blocks:  # small: one request
            self._lake._put_blob(self._path, bytes(self._buffer))
            return
        from azure.storage.blob import BlobBlock

        if self._buffer:
            self._stage()
        self._lake._blob(self._path).commit_block_list(
            [BlobBlock(block_id) for block_id in self._blocks])


def _container_client(account_url: str, container: str,
                      credential: Any) -> Callable[[], ContainerClient]:
    """A factory of the blob client for the lake's container (imported when first used)."""

    def connect() -> ContainerClient:
        from azure.storage.blob import ContainerClient

        return ContainerClient(account_url, container, credential=credential)

    return connect


def _local_version(status: os.stat_result) -> str:
    """Changes with every replacement: a renamed file brings a new inode and time."""
    return f"{status.st_ino:x}-{status.st_mtime_ns:x}-{status.st_size:x}"


def _default_credential(client_id: str | None) -> TokenCredential:
    from azure.identity import DefaultAzureCredential  # heavy import, only for abfss lakes

    return DefaultAzureCredential(managed_identity_client_id=client_id)
