"""Storage faults injected into `shared.lake.Lake`: every write counted, the Nth one failed.

The lake's five write methods (`write_bytes`, `open_output`, `write_bytes_if`,
`write_table`, `merge_table`) are wrapped on the class, so every `Lake` of the process is
covered. A write is counted once, where the operation calls it (a local `write_bytes`
streams through `open_output` inside: that is still one write). Writes of the writer lease
record are not counted: they are the lease's own, tested in tests/shared/test_lease.py.

Fault kinds, at the Nth write:
- `raise`: the storage refuses the write (`InjectedFault`, an OSError); a stream is
  refused when it is opened.
- `hang`: the write blocks until the test releases it, then fails with `TimeoutError`
  (a client's timeout), so the test can look at the lake while a writer is stuck. A
  stream hangs once its caller has written every byte, inside the lake's own stream
  (before it commits), so the stream's clean-up runs.
- `zero`: the storage leaves the target as a 0-byte file, then the write fails.
- `partial`: the first half of the bytes land in the target, then the write fails.
For a stream, `zero` and `partial` take the caller's bytes first. Both write straight to
the filesystem path, bypassing the lake's atomic publication, as a storage that
misbehaves (or pyarrow's old Azure stream) would. For a Delta table the target is a data
file in the table's folder that no commit names (delta-rs writes data files first and
commits them with one log entry).

Run as `python -m tests.faults.inject <shoplake arguments>` (from the project root), the
same wrapper drives the real command line: `SHOPLAKE_FAULT_LOG=<file>` appends each write
as a JSON line, `SHOPLAKE_FAULT_KILL_AT=<n>` ends the process with `os._exit(137)` (as
`kill -9` does) at write n: before it starts, or for a stream once its bytes are written
and before they are committed. `SHOPLAKE_FAULT_KILL_ON=<regex>` kills it at the first
write whose target matches.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shared.lake import Lake, Zone

METHODS = ("write_bytes", "open_output", "write_bytes_if", "write_table", "merge_table")
KINDS = ("raise", "hang", "zero", "partial")
KILLED = 137
"""Exit status of a process killed with SIGKILL, as a shell reports it."""
HANG_LIMIT_S = 120.0
"""A hung write gives up by itself after this long if no test releases it."""
KILL_AT = "SHOPLAKE_FAULT_KILL_AT"
KILL_ON = "SHOPLAKE_FAULT_KILL_ON"
LOG = "SHOPLAKE_FAULT_LOG"


class InjectedFault(OSError):
    """A storage failure the test injected."""


@dataclass(frozen=True)
class Write:
    """One write an operation made: its number (1-based), method and target."""

    number: int
    method: str
    target: str
    """The file's path under the lake root, or `zone/table` for a Delta table."""
    committed: bool = True
    """False for a stream its caller abandoned (an exception inside it) in the clean run:
    nothing of it is ever stored, so only a fault at its opening can reach it."""

    @property
    def label(self) -> str:
        """A short name for test ids and tables: `07-merge_table:curated/dim_product`."""
        return f"{self.number:02d}-{self.method}:{self.short_target}"

    @property
    def short_target(self) -> str:
        """The target with long generated names (hashes, sequence numbers) shortened."""
        return re.sub(r"[0-9a-f]{16,}", "..", self.target)

    @property
    def is_table(self) -> bool:
        return self.method in ("write_table", "merge_table")

    def to_json(self) -> str:
        return json.dumps({"number": self.number, "method": self.method, "target": self.target})

    @classmethod
    def from_json(cls, line: str) -> Write:
        return cls(**json.loads(line))


def is_lease(lake: Lake, path: str) -> bool:
    return lake.relative(path).startswith(f"{Zone.STATE.value}/lease/")


class Injector:
    """Counts the lake's writes and fails the `fail_at`-th one with `kind` (None: only count).

    `on_write(write)` is called for every counted write before it happens (the subprocess
    wrapper logs and kills there).
    """

    def __init__(self, fail_at: int | None = None, kind: str = "raise",
                 on_write: Callable[[Write], None] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        self.fail_at = fail_at
        self.kind = kind
        self.on_write = on_write
        self.writes: list[Write] = []
        self.failed: Write | None = None
        self.left: str | None = None
        """The path where a `zero` or `partial` fault left its bytes."""
        self.hung = threading.Event()
        """Set when the faulted write starts hanging."""
        self.release = threading.Event()
        """Set by the test to let the hung write fail."""
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- installing ---------------------------------------------------------------------

    def install(self, patch: Callable[[Any, str, Any], None] = setattr) -> Injector:
        """Wrap the Lake methods with `patch(Lake, name, wrapper)` (monkeypatch.setattr
        undoes it after the test)."""
        for name in METHODS:
            original = getattr(Lake, name)
            wrapper = (self._wrap_stream(original) if name == "open_output"
                       else self._wrap_call(name, original))
            patch(Lake, name, wrapper)
        return self

    # -- counting -----------------------------------------------------------------------

    def _nested(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    @contextmanager
    def _inside(self) -> Iterator[None]:
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1

    def _count(self, method: str, target: str) -> Write:
        with self._lock:
            write = Write(len(self.writes) + 1, method, target)
            self.writes.append(write)
        if self.on_write is not None:
            self.on_write(write)
        return write

    def _abandoned(self, write: Write) -> None:
        with self._lock:
            self.writes[write.number - 1] = dataclasses.replace(write, committed=False)

    def _faulted(self, write: Write) -> bool:
        if write.number != self.fail_at:
            return False
        self.failed = write
        return True

    # -- wrappers -----------------------------------------------------------------------

    def _wrap_call(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(lake: Lake, *args: Any, **kwargs: Any) -> Any:
            target = _target(lake, name, args)
            if self._nested() or (not name.endswith("table") and is_lease(lake, args[0])):
                return original(lake, *args, **kwargs)
            write = self._count(name, target)
            with self._inside():
                if self._faulted(write):
                    self._fail(lake, write, lambda: _payload(name, args),
                               _bad_path(lake, name, args))
                return original(lake, *args, **kwargs)

        wrapper.__name__ = name
        return wrapper

    def _wrap_stream(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @contextmanager
        def open_output(lake: Lake, path: str) -> Iterator[pa.NativeFile]:
            if self._nested():
                with original(lake, path) as out:
                    yield out
                return
            write = self._count("open_output", lake.relative(path))
            if not self._faulted(write):
                try:
                    with original(lake, path) as out:
                        yield out
                except BaseException:
                    self._abandoned(write)
                    raise
                return
            if self.kind == "raise":  # the storage refuses to create the file
                self._fail(lake, write, bytes, path)
            if self.kind in ("zero", "partial"):
                sink = _Capture()
                yield pa.PythonFile(sink, mode="w")
                self._fail(lake, write, lambda: bytes(sink.data), path)
            with original(lake, path) as out:  # hang: the real stream, its clean-up runs
                yield out
                self._fail(lake, write, bytes, path)

        return open_output

    # -- failing ------------------------------------------------------------------------

    def _fail(self, lake: Lake, write: Write, payload: Callable[[], bytes], path: str) -> None:
        where = f"write {write.number} ({write.method} {write.target})"
        if self.kind == "hang":
            self.hung.set()
            self.release.wait(HANG_LIMIT_S)
            raise TimeoutError(f"injected: {where} hung and timed out")
        if self.kind in ("zero", "partial"):
            data = payload()
            leave_bad_file(lake, path, b"" if self.kind == "zero" else data[:len(data) // 2])
            self.left = path
            raise InjectedFault(f"injected: {where} left {self.kind} bytes and failed")
        raise InjectedFault(f"injected: storage refused {where}")

    def run(self, operation: Callable[[], Any],
            while_hung: Callable[[], None] | None = None) -> BaseException | None:
        """Run the operation; the exception it ended with (None: it succeeded).

        A `hang` runs it in a thread: once the write hangs, `while_hung()` looks at the
        lake, then the write is released and fails."""
        if self.kind != "hang":
            try:
                operation()
            except Exception as error:
                return error
            return None
        outcome: list[BaseException | None] = []

        def target() -> None:
            try:
                operation()
            except BaseException as error:
                outcome.append(error)
            else:
                outcome.append(None)
            finally:
                self.hung.set()  # also when the faulted write was never reached

        worker = threading.Thread(target=target, name="hung-writer", daemon=True)
        worker.start()
        try:
            assert self.hung.wait(HANG_LIMIT_S), "the operation neither hung nor ended"
            if self.failed is not None and not outcome and while_hung is not None:
                while_hung()
        finally:
            self.release.set()
            worker.join(HANG_LIMIT_S)
        assert outcome, "the hung operation never ended"
        return outcome[0]


class _Capture(io.RawIOBase):
    """Keeps what a caller streams (closing it keeps the bytes)."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.data += view
        return len(view)

    def tell(self) -> int:
        return len(self.data)


def leave_bad_file(lake: Lake, path: str, data: bytes) -> None:
    """Write `data` at `path` in place, not atomically: as a storage that misbehaves."""
    if lake.local:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with lake.fs.open_output_stream(path, compression=None) as out:
        out.write(data)


def _target(lake: Lake, method: str, args: tuple[Any, ...]) -> str:
    if method.endswith("table"):
        zone, *parts = args[1:]
        return "/".join([Zone(zone).value, *parts])
    return lake.relative(args[0])


def _bad_path(lake: Lake, method: str, args: tuple[Any, ...]) -> str:
    """Where a misbehaving storage leaves bytes: the file, or a Delta data file that no
    commit names."""
    if not method.endswith("table"):
        return args[0]
    return lake.path(Zone(args[1]), *args[2:], f"part-00000-{uuid.uuid4()}-c000.snappy.parquet")


def _payload(method: str, args: tuple[Any, ...]) -> bytes:
    """The bytes the write would have stored (a table's rows as one Parquet file)."""
    if not method.endswith("table"):
        return bytes(args[1])
    data = args[0]
    if isinstance(data, pa.RecordBatchReader):
        data = data.read_all()
    sink = io.BytesIO()
    pq.write_table(data, sink)
    return sink.getvalue()


# -- the command line, wrapped -------------------------------------------------------------


class _KillingInjector(Injector):
    """Logs every write and kills the process at write `kill_at`, or at the first write
    whose target matches `kill_on` (a stream: once its bytes are written)."""

    def __init__(self, log: str | None, kill_at: int | None, kill_on: str | None) -> None:
        super().__init__(on_write=self._on_write)
        self.log = log
        self.kill_at = kill_at
        self.kill_on = re.compile(kill_on) if kill_on else None

    def _on_write(self, write: Write) -> None:
        if self.log:
            with open(self.log, "a", encoding="utf-8") as out:
                out.write(write.to_json() + "\n")
        if self.kill_at is None and self.kill_on and self.kill_on.search(write.target):
            self.kill_at = write.number
        if write.number == self.kill_at and write.method != "open_output":
            os._exit(KILLED)

    def _wrap_stream(self, original: Callable[..., Any]) -> Callable[..., Any]:
        counted = super()._wrap_stream(original)

        @contextmanager
        def open_output(lake: Lake, path: str) -> Iterator[pa.NativeFile]:
            before = len(self.writes)

            def killed_here() -> bool:
                return len(self.writes) > before and self.writes[before].number == self.kill_at

            try:
                with counted(lake, path) as out:
                    yield out
                    if killed_here():
                        out.flush()
                        os._exit(KILLED)  # the bytes are written, not committed
            except BaseException:
                if killed_here():
                    os._exit(KILLED)  # its caller was abandoning it
                raise

        return open_output


def main() -> None:
    kill_at = os.environ.get(KILL_AT)
    _KillingInjector(os.environ.get(LOG), int(kill_at) if kill_at else None,
                     os.environ.get(KILL_ON)).install()
    sys.argv = ["shoplake", *sys.argv[1:]]
    from shoplake.cli import main as shoplake

    shoplake()


if __name__ == "__main__":
    main()
