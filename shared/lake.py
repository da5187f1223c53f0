"""The lake: one object that owns every path and how to reach the storage behind it.

A lake root is a URI; only the storage plumbing differs between them:

- `lake`, `/data/lake`, `file:///data/lake`: a local folder for files and tables.
- `az://container/path` with an account-key connection string: Azure blob storage (Azurite
  locally) for files; `az://` tables with the key and the endpoint.
- `abfss://container@account.dfs.core.windows.net/path`: ADLS Gen2 with an identity; tables
  get a bearer token from azure-identity.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import DeltaTable, write_deltalake

from shared.settings import ConfigurationError, Settings

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
STORAGE_SCOPE = "https://storage.azure.com/.default"
TOKEN_REFRESH_MARGIN_S = 300


class Zone(StrEnum):
    """The lake's zones (see the README): each is a top-level folder under the root."""

    RAW = "raw"
    QUARANTINE = "quarantine"
    PROCESSED = "processed"
    CURATED = "curated"
    MODELS = "models"
    STATE = "_state"


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


class Lake:
    """Paths, files and Delta tables under one lake root."""

    def __init__(
        self,
        url: str,
        filesystem: pafs.FileSystem,
        base_path: str,
        table_base_uri: str,
        storage_options: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.url = url
        self.fs = filesystem
        self._base = base_path.rstrip("/")
        self._table_base = table_base_uri.rstrip("/")
        self._storage_options = storage_options or dict
        self._local = isinstance(filesystem, pafs.LocalFileSystem)
        self._known_dirs: set[str] = set()
        self._root_ready = self._local  # deltalake creates local folders, not containers

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential | None = None) -> Lake:
        return cls.open(
            settings.lake_url,
            connection_string=settings.lake_storage_connection_string,
            client_id=settings.azure_client_id,
            credential=credential,
        )

    @classmethod
    def open(
        cls,
        url: str,
        *,
        connection_string: str | None = None,
        client_id: str | None = None,
        credential: TokenCredential | None = None,
    ) -> Lake:
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
        return cls(url, filesystem, base, f"az://{base}", lambda: dict(options))

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
            return cls(url, filesystem, f"{container}{path}", url, lambda: dict(options))
        # pyarrow authenticates itself (managed identity when client_id is set, else the
        # default credential chain); deltalake gets a bearer token from azure-identity.
        filesystem = pafs.AzureFileSystem(account_name, client_id=client_id)
        tokens = _TokenCache(credential or _default_credential(client_id))
        return cls(
            url,
            filesystem,
            f"{container}{path}",
            url,
            lambda: {"account_name": account_name, "bearer_token": tokens.token()},
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
        with self.open_output(path) as out:
            out.write(data)

    @contextmanager
    def open_output(self, path: str) -> Iterator[pa.NativeFile]:
        """A stream whose file appears whole when the block ends, and not at all on error.

        Blob uploads commit on close; locally we write a temporary file and rename it.
        """
        parent = path.rsplit("/", 1)[0]
        if parent not in self._known_dirs:
            self.fs.create_dir(parent, recursive=True)
            self._known_dirs.add(parent)
        if not self._local:
            try:
                with self.fs.open_output_stream(path, compression=None) as out:
                    yield out
            except BaseException:
                # Closing a blob stream commits what was written: remove the half file.
                if self.exists(path):
                    self.fs.delete_file(path)
                raise
            return
        temporary = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open_output_stream(temporary, compression=None) as out:
                yield out
            self.fs.move(temporary, path)
        except BaseException:
            if self.exists(temporary):
                self.fs.delete_file(temporary)
            raise

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
                and not info.base_name.startswith(".tmp-")
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
        """Write a Delta table (pass `table` when it is already open: saves reloading it)."""
        if not self._root_ready:
            self.fs.create_dir(self._base, recursive=True)  # creates the container if absent
            self._root_ready = True
        write_deltalake(
            table if table is not None else self.table_uri(zone, *parts),
            data,
            mode=mode,  # type: ignore[arg-type]
            partition_by=list(partition_by) if partition_by else None,
            predicate=predicate,
            # Replacing a whole table may change its columns (a transform gained one).
            schema_mode="overwrite" if mode == "overwrite" and predicate is None else None,
            storage_options=None if table is not None else self.storage_options,
        )

    def merge_table(self, data: pa.Table, zone: Zone, *parts: str, key: Iterable[str],
                    scope: tuple[str, Iterable[str]] | None = None) -> None:
        """Make the table's rows equal `data` in one commit, rewriting only changed rows.

        With `scope` (column, values), `data` holds only the rows of those values, and only
        their rows are deleted when absent from it; all other rows stay as they are.
        """
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


def _default_credential(client_id: str | None) -> TokenCredential:
    from azure.identity import DefaultAzureCredential  # heavy import, only for abfss lakes

    return DefaultAzureCredential(managed_identity_client_id=client_id)
