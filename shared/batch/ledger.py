"""The ledger of uploaded files: `_state/ingest/batch/<sha256>.json`, one entry per content.

An entry's `status` says where the file is:

- `queued`: a Synapse pipeline run was (or is being) started to land it; `run_id` names
  the run once it has started, `dates` the order dates the file touches;
- `failed`: starting the run failed, or the run failed; `error` says why. The file is
  landed again by its next upload, its next blob-created event or `shoplake uploads retry`;
- `landed` / `rejected`: written by `ingest_batch_file` when it finished (counts, reasons).

Only a `landed` entry means the file is done. Entries other than the landing's are only
ever changed compare-and-swap: of two writers racing for one, one wins and the other sees
the winner, so two blob-created events of one file start one run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.lake import Lake
from shared.storage import StaleWriteError, Zone

Entry = dict[str, Any]


def ledger_path(lake: Lake, sha256: str) -> str:
    return lake.path(Zone.STATE, "ingest", "batch", f"{sha256}.json")


def entry_bytes(entry: Entry) -> bytes:
    return orjson.dumps(entry, option=orjson.OPT_INDENT_2)


def read_entry(lake: Lake, sha256: str) -> Entry | None:
    """The file's entry (None: none, or damaged)."""
    return read_versioned_entry(lake, sha256)[0]


def read_versioned_entry(lake: Lake, sha256: str) -> tuple[Entry | None, str | None]:
    """The file's entry (None: none, or damaged) and the version of what is stored."""
    value, version = lake.read_json(ledger_path(lake, sha256))
    return well_formed(value, sha256), version


_TEXT_FIELDS = ("file", "mapping", "dataset", "run_id", "error", "queued_at", "landed_at")


def well_formed(value: Any, sha256: str) -> Entry | None:
    """The entry of file `sha256` as stored, or None when it is damaged: JSON that is not
    this file's entry (a hand edit, another tool, a future version's types) is taken as
    missing and written anew, like bytes that are not JSON."""
    if (not isinstance(value, dict) or value.get("sha256") != sha256
            or not isinstance(value.get("status"), str)
            or any(value.get(name) is not None and not isinstance(value[name], str)
                   for name in _TEXT_FIELDS)):
        return None
    if value.get("queued_at") is not None:
        try:
            if datetime.fromisoformat(value["queued_at"]).tzinfo is None:
                return None
        except ValueError:
            return None
    return value


def update_entry(lake: Lake, sha256: str,
                 change: Callable[[Entry | None], Entry | None]) -> Entry | None:
    """Replace the entry by `change(entry)` (None: keep it) compare-and-swap; when another
    writer got in between, `change` is applied again to what it wrote. The entry as it is
    now (None: there is none)."""
    path = ledger_path(lake, sha256)
    while True:
        entry, version = read_versioned_entry(lake, sha256)
        new = change(entry)
        if new is None:
            return entry
        try:
            lake.write_bytes_if(path, entry_bytes(new), version)
        except StaleWriteError:
            continue
        return new


def ledger_entries(lake: Lake) -> list[Entry]:
    """Every readable entry, in the order the files came in (a damaged one is left out: the
    file's next upload writes it anew)."""
    entries = (read_entry(lake, path.rsplit("/", 1)[-1].removesuffix(".json"))
               for path in lake.list_files(lake.path(Zone.STATE, "ingest", "batch"), ".json"))
    return sorted((entry for entry in entries if entry is not None), key=_came_in)


def _came_in(entry: Entry) -> str:
    return str(entry.get("queued_at") or entry.get("landed_at") or "")


def record_run_failure(lake: Lake, sha256: str, error: str,
                       now: datetime | None = None) -> Entry | None:
    """Record that the run landing the file failed (its job calls this): the entry becomes
    `failed` with the error, unless the file landed or was rejected meanwhile. The entry as
    it is now (None: the ledger knows no such file)."""
    def failed(entry: Entry | None) -> Entry | None:
        if entry is None or entry.get("status") not in ("queued", "failed"):
            return None
        return failed_entry(entry, error, now)

    return update_entry(lake, sha256, failed)


def failed_entry(entry: Entry, error: str, now: datetime | None = None) -> Entry:
    return {**entry, "status": "failed", "error": " ".join(error.split()),
            "failed_at": (now or datetime.now(UTC)).isoformat()}
