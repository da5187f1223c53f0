"""Who processes an uploaded file: the pipeline runner the settings choose.

The blob trigger only recognises the upload and hands it over; the runner does the work.
The local runner lands the file in-process (embedded mode and `func start`); a runner that
starts a Synapse pipeline run implements the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.batch.ingest import BatchFileResult, ingest_batch_file
from shared.batch.mapping import (
    NAME_RULE,
    Mapping,
    MappingError,
    builtin_mappings,
    is_mapping_name,
    load_mapping,
    load_mapping_text,
)
from shared.lake import Lake, Zone


@dataclass(frozen=True)
class Upload:
    """A file under `raw/batch/<mapping>/<name>`; the folder names its mapping."""

    path: str
    mapping: str
    name: str

    @classmethod
    def at(cls, lake: Lake, path: str) -> Upload:
        """Recognise an upload from its lake path (a blob name, a filesystem path, or a path
        relative to the lake root). The path read is rebuilt under the lake's upload folder,
        so no name (`..`, an absolute or a relative path) can reach a file outside it."""
        parts = lake.relative(path).split("/")
        if (len(parts) < 4 or parts[:2] != [Zone.RAW.value, "batch"]
                or not is_mapping_name(parts[2])
                or any(part in ("", ".", "..") or "\\" in part for part in parts[3:])):
            raise UploadError(
                f"{path!r} is not an upload: expected raw/batch/<mapping>/<file> inside the "
                f"lake, the mapping named by {NAME_RULE}, without '.', '..' or empty segments")
        return cls(lake.path(Zone.RAW, "batch", *parts[2:]), parts[2], "/".join(parts[3:]))


class UploadError(ValueError):
    """An upload the pipeline cannot take (wrong place, unknown mapping)."""


class PipelineRunner(Protocol):
    def process_upload(self, upload: Upload) -> BatchFileResult: ...


def mapping_for(lake: Lake, name: str) -> Mapping:
    """The lake's own mapping `_state/mappings/<name>.toml`, else the built-in one."""
    if not is_mapping_name(name):
        raise UploadError(f"{name!r} is not a mapping name: use {NAME_RULE}")
    custom = lake.path(Zone.STATE, "mappings", f"{name}.toml")
    if lake.exists(custom):
        return load_mapping_text(lake.read_bytes(custom).decode("utf-8"), lake.relative(custom))
    try:
        return load_mapping(name)
    except MappingError as error:
        raise UploadError(
            f"no mapping {name!r} for this upload: add _state/mappings/{name}.toml to the lake "
            f"or upload under a built-in mapping ({', '.join(builtin_mappings())})"
        ) from error


class LocalRunner:
    """Processes uploads in this process, on the given lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def process_upload(self, upload: Upload) -> BatchFileResult:
        return ingest_batch_file(self.lake, upload.path, mapping_for(self.lake, upload.mapping))
