"""What the lake and its writer lease both know: the zones, versioned reads and a lost
compare-and-swap; and the part of the lake the lease uses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["StaleWriteError", "Versioned", "VersionedStore", "Zone"]


class Zone(StrEnum):
    """The lake's zones (see docs/star-schema.md): each is a top-level folder under the root."""

    RAW = "raw"
    QUARANTINE = "quarantine"
    PROCESSED = "processed"
    CURATED = "curated"
    MODELS = "models"
    STATE = "_state"


class StaleWriteError(RuntimeError):
    """A compare-and-swap write found the file changed since it was read."""


@dataclass(frozen=True)
class Versioned:
    """A file's bytes and the version they were read at (None, None: no such file)."""

    data: bytes | None
    version: str | None


class VersionedStore(Protocol):
    """Compare-and-swap files under zones: what the writer lease needs of a `Lake`."""

    url: str

    def path(self, zone: Zone, *parts: str) -> str: ...

    def relative(self, path: str) -> str: ...

    def read_versioned(self, path: str) -> Versioned: ...

    def write_bytes_if(self, path: str, data: bytes, expected: str | None) -> str: ...

    def remove_orphans(self) -> int: ...
