"""Uploads landed by Synapse: the blob trigger starts one pipeline run per file content.

With REFRESH_RUNNER=synapse an upload is not landed in the Function: the trigger reads the
file once (its SHA-256, and the dates of the date partitions its rows fall in, which the
run rebuilds), and starts a run of the pipeline's `upload` step, whose job lands the file
with `ingest_batch_file`. It does not wait for the run.

ADLS sends more than one BlobCreated event per file (create and flush, redeliveries), and
two may be handled at once; the ledger entry (`shared.batch.ledger`) makes one file one run:
1. read the entry and its version: a file landed, or queued for a run, starts nothing (a
   `duplicate` result);
2. write it `queued`, compare-and-swap against that version: of two triggers one wins, the
   other finds the winner's entry and starts nothing;
3. start the run; when that fails the entry becomes `failed` and the trigger raises, so its
   retry starts a new run;
4. record the run id, compare-and-swap again, so an outcome the run already recorded stays.

A trigger that dies between 2 and 4 leaves a `queued` entry without a run id; after
`STALE_AFTER_S` it counts as failed and the next event, `shoplake uploads retry` or a
refresh of the ledger takes it over. If the run had started, the file is then landed twice,
which changes nothing: landing is idempotent.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from shared.batch.ingest import BatchFileResult, ingest_batch_file
from shared.batch.ledger import (
    Entry,
    entry_bytes,
    failed_entry,
    ledger_entries,
    ledger_path,
    read_entry,
    read_versioned_entry,
    update_entry,
)
from shared.batch.mapping import Mapping
from shared.batch.reader import UnreadableFileError, read_batch_file
from shared.batch.runner import Upload, UploadError, mapping_for
from shared.lake import Lake
from shared.landed import Dataset
from shared.storage import StaleWriteError
from shared.synapse import SynapseError, SynapseRunner
from shared.warehouse.specs import CATALOG, LANDED, Catalog, Step

UPLOAD_STEP = "upload"
"""The Synapse pipeline step whose job lands one uploaded file."""
STALE_AFTER_S = 15 * 60.0
"""A `queued` entry without a run id this old was left by a trigger that died before the
run started (starting one takes seconds, a minute or two with retries)."""
NO_RUN = "the trigger stopped before it started a Synapse run"
NOT_LANDED = "run succeeded but the file was not recorded as landed"
_READ_BLOCK = 1 << 20

Clock = Callable[[], datetime]


class NotRetryableError(UploadError):
    """The upload is landed, or its run is under way: a retry would start nothing."""


@dataclass(frozen=True)
class Scan:
    """What one read of an upload found."""

    sha256: str
    dates: list[str]
    """ISO dates of the partitions its rows fall in, sorted (none for undated datasets)."""
    unreadable: bool
    """The reader refused the file whole (not CSV, missing columns): it is rejected."""


def date_expressions(catalog: Catalog, dataset: Dataset) -> list[str]:
    """The `dates` expressions of the partition-step tables that read the dataset's landed
    rows (none: a dataset read whole, such as products)."""
    return sorted({spec.inputs[view].dates
                   for spec in catalog.step(Step.PARTITION)
                   for view, landed in LANDED.items()
                   if landed is dataset and view in spec.inputs})


def scan_upload(lake: Lake, path: str, mapping: Mapping, catalog: Catalog = CATALOG) -> Scan:
    """Read the upload once, in chunks: its SHA-256 and the dates its landed rows touch."""
    expressions = date_expressions(catalog, mapping.dataset)
    dates: set[date] = set()
    unreadable = False
    with lake.open_input(path) as stream, duckdb.connect() as con:
        hashing = _Hashing(stream)
        con.execute("SET TimeZone = 'UTC'")  # dates of timestamps are UTC dates, as in a refresh
        try:
            for chunk in read_batch_file(hashing, mapping, name=path.rsplit("/", 1)[-1]):
                con.register("chunk", chunk.landed)
                for expression in expressions:
                    dates.update(value for (value,) in con.execute(
                        f"SELECT DISTINCT {expression} FROM chunk").fetchall() if value is not None)
        except UnreadableFileError:
            unreadable = True
        sha256 = hashing.finish()
    return Scan(sha256, sorted(day.isoformat() for day in dates), unreadable)


class _Hashing(io.RawIOBase):
    """A read stream that hashes what passes through it."""

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self._stream = stream
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._stream.read(size)
        self._digest.update(data)
        return data

    def finish(self) -> str:
        """The SHA-256 of the whole stream, reading what the reader left (a rejected file's
        rest, bytes after a compressed stream)."""
        while self.read(_READ_BLOCK):
            pass
        return self._digest.hexdigest()


class SynapseUploadRunner:
    """Starts a Synapse pipeline run per uploaded file content (see the module's doc)."""

    def __init__(self, lake: Lake, synapse: SynapseRunner, *, catalog: Catalog = CATALOG,
                 stale_after_s: float = STALE_AFTER_S,
                 clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.lake = lake
        self.synapse = synapse
        self.catalog = catalog
        self.stale_after_s = stale_after_s
        self.clock = clock

    def process_upload(self, upload: Upload) -> BatchFileResult:
        """Start a run landing the upload, unless its content is landed or queued already."""
        return self._submit(upload, retry=False)

    def retry(self, upload: Upload, sha256: str | None = None) -> BatchFileResult:
        """Start a new run for an upload whose run failed (or never started), after asking
        Synapse how its run is doing; `NotRetryableError` when it is landed or under way.
        `sha256`: the content expected at the upload's path."""
        return self._submit(upload, retry=True, sha256=sha256)

    def refresh(self, entry: Entry) -> Entry:
        """A `queued` entry brought up to date with its run: `failed` when the run failed or
        was cancelled, succeeded without the file landing, or never started; else as it is."""
        error = self._run_failure(entry)
        if error is None:
            return entry

        def failed(current: Entry | None) -> Entry | None:
            # Only the entry as Synapse was asked about it: a newer one (landed, a new run) wins.
            if (current is None or current.get("status") != "queued"
                    or any(current.get(key) != entry.get(key) for key in ("run_id", "queued_at"))):
                return None
            return failed_entry(current, error, self.clock())

        return update_entry(self.lake, entry["sha256"], failed) or entry

    def refresh_ledger(self) -> list[Entry]:
        """Every ledger entry, the `queued` ones brought up to date with their runs."""
        return [self.refresh(entry) if entry.get("status") == "queued" else entry
                for entry in ledger_entries(self.lake)]

    def _submit(self, upload: Upload, *, retry: bool, sha256: str | None = None
                ) -> BatchFileResult:
        mapping = mapping_for(self.lake, upload.mapping)
        scan = scan_upload(self.lake, upload.path, mapping, self.catalog)
        file = self.lake.relative(upload.path)
        if sha256 is not None and scan.sha256 != sha256:
            raise NotRetryableError(f"{file} now holds other content (sha256 {scan.sha256}), "
                                    f"not {sha256}: upload the file again")
        path = ledger_path(self.lake, scan.sha256)
        entry, version = read_versioned_entry(self.lake, scan.sha256)
        if retry and entry is not None and entry.get("status") == "queued":
            self.refresh(entry)
            entry, version = read_versioned_entry(self.lake, scan.sha256)
        if entry is not None and not self._startable(entry):
            return self._settled(entry, retry)
        if scan.unreadable:
            # Rejected here, by the local runner's own path: the same quarantine, the same entry.
            return ingest_batch_file(self.lake, upload.path, mapping)
        queued = BatchFileResult(file, mapping.name, mapping.dataset.value, scan.sha256,
                                 "queued", 0, 0, 0)
        record = {**queued.to_json(), "dates": scan.dates, "queued_at": self.clock().isoformat()}
        try:
            version = self.lake.write_bytes_if(path, entry_bytes(record), version)
        except StaleWriteError:
            winner = read_entry(self.lake, scan.sha256)
            if winner is None:
                raise
            return self._settled(winner, retry)  # its trigger starts the run
        try:
            run_id = self.synapse.start(UPLOAD_STEP, {
                "mapping": mapping.name, "dataset": mapping.dataset.value, "path": file,
                "sha256": scan.sha256, "dates": scan.dates})
        except SynapseError as error:
            with suppress(StaleWriteError):  # the entry moved on meanwhile: it stays
                self.lake.write_bytes_if(path, entry_bytes(failed_entry(record, str(error),
                                                                        self.clock())), version)
            raise
        with suppress(StaleWriteError):  # the run recorded how it ended already: that stays
            self.lake.write_bytes_if(path, entry_bytes({**record, "run_id": run_id}), version)
        return replace(queued, run_id=run_id)

    def _startable(self, entry: Entry) -> bool:
        """Whether a file with this entry needs a (new) run: its run failed or never started,
        or it was rejected (a new mapping may read it)."""
        status = entry.get("status")
        return status in ("failed", "rejected") or (status == "queued" and self._stale(entry))

    def _stale(self, entry: Entry) -> bool:
        """A `queued` entry whose trigger died before the run started."""
        if entry.get("run_id"):
            return False
        if entry.get("queued_at") is None:
            return True  # not written by this version: nothing says a run is starting
        queued_at = datetime.fromisoformat(entry["queued_at"])  # checked by well_formed
        return (self.clock() - queued_at).total_seconds() > self.stale_after_s

    def _settled(self, entry: Entry, retry: bool) -> BatchFileResult:
        """The answer for a file that needs no new run."""
        if not retry:
            return BatchFileResult.duplicate_of(entry)
        file, status = entry.get("file"), entry.get("status")
        if status == "queued" and entry.get("run_id"):
            raise NotRetryableError(f"{file} is queued as Synapse run {entry['run_id']}, which "
                                    "is still running: `shoplake uploads` shows how it is doing")
        if status == "queued":
            raise NotRetryableError(f"{file} is queued since {entry.get('queued_at')} and its "
                                    f"run is starting; retry after {self.stale_after_s / 60:g} "
                                    "minutes if it does not")
        raise NotRetryableError(f"{file} is {status}: nothing to retry")

    def _run_failure(self, entry: Entry) -> str | None:
        """Why the run of a `queued` entry failed, or None while it may still land the file."""
        run_id = entry.get("run_id")
        if not run_id:
            return NO_RUN if self._stale(entry) else None
        try:
            status = self.synapse.status(run_id)
        except SynapseError as error:
            if error.status_code != 404:  # Synapse knows no such run: it will never land it
                raise
            return str(error)
        if status.state == "failed":
            return status.detail
        return NOT_LANDED if status.state == "succeeded" else None
