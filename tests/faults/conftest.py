"""Fixtures of the fault tests: clean references built once per session, and the faults
each test is parametrized with, from a clean dry run of its operation (so a write added to
an operation is covered without editing a test).

The dry runs happen while the tests are collected; their lakes are the clean references
the broken-then-recovered lakes are compared with.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import pytest

from shared.lake import Lake
from tests.azurite import Azurite
from tests.faults import scenarios
from tests.faults.inject import KINDS, Injector, Write
from tests.faults.scenarios import Reference

_WORKSPACE: list[Path] = []


def workspace() -> Path:
    """A folder for the references, removed when the session ends."""
    if not _WORKSPACE:
        _WORKSPACE.append(Path(tempfile.mkdtemp(prefix="shoplake-faults-")))
    return _WORKSPACE[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _WORKSPACE:
        shutil.rmtree(folder, ignore_errors=True)


# -- references -----------------------------------------------------------------------------


def _reference(name: str, prepare: Callable[[Lake], None] | None,
               operation: Callable[[Lake], object]) -> Reference:
    """`prepare` a lake (None: an empty one), copy it, and run `operation` on the copy."""
    root = workspace() / name
    before = root / "before"
    if prepare is not None:
        prepare(Lake.open(str(before)))
    if before.exists():
        shutil.copytree(before, root / "after")
    after = Lake.open(str(root / "after"))
    writes = scenarios.dry_run(lambda: operation(after))
    return Reference(before, root / "after", writes)


@cache
def events_reference() -> Reference:
    return _reference("events", None, scenarios.ingest_events)


@cache
def exports() -> dict[str, Path]:
    return scenarios.export_files(str(workspace() / "exports"))


@cache
def batch_reference(file: str) -> Reference:
    return _reference(f"batch-{file}", None, lambda lake: scenarios.upload(lake, exports()[file]))


@cache
def refresh_base() -> Path:
    lake = Lake.open(str(workspace() / "refresh-base"))
    scenarios.deliver_base(lake, workspace() / "refresh-exports")
    return Path(lake.url)


def _copy_of_base(lake: Lake) -> None:
    shutil.copytree(refresh_base(), lake.url)


@cache
def refresh_reference() -> Reference:
    return _reference("refresh", _copy_of_base, scenarios.run_refresh)


@cache
def steps_reference() -> Reference:
    return _reference("steps", _copy_of_base, scenarios.run_refresh_steps)


@cache
def unrefreshed_base() -> Path:
    """The shop's three days delivered, never refreshed."""
    lake = Lake.open(str(workspace() / "unrefreshed-base"))
    scenarios.deliver_unrefreshed(lake, workspace() / "unrefreshed-exports")
    return Path(lake.url)


@cache
def first_refresh_reference() -> Reference:
    """A first refresh of the unrefreshed lake: every table is created."""
    return _reference("first-refresh",
                      lambda lake: shutil.copytree(unrefreshed_base(), lake.url),
                      scenarios.run_refresh)


@cache
def events_file() -> Path:
    return scenarios.ndjson_file(workspace() / "events.ndjson")


# -- the faults tests are parametrized with ----------------------------------------------------


@dataclass(frozen=True)
class Fault:
    write: Write
    kind: str

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.write.label}"

    def injector(self) -> Injector:
        return Injector(self.write.number, self.kind)


def _param(fault: Fault, values: tuple[object, ...] | None = None,
           id_prefix: str = "") -> object:
    marks = [pytest.mark.azurite] if values and values[0] == "azurite" else []
    return pytest.param(*(values or (fault,)), id=id_prefix + fault.id, marks=marks)


Selector = Callable[[list[Write]], set[int]]


def every_write(writes: list[Write]) -> set[int]:
    return {write.number for write in writes}


def first_of_each(writes: list[Write]) -> set[int]:
    """The first write of each table method and of each state file or folder: a hang
    leaves the lake as a refusal does, so its checks (made while it hangs) are per kind
    of write."""
    chosen: dict[tuple[str, ...], int] = {}
    for write in writes:
        key = (write.method,) if write.is_table else (write.method,
                                                       *write.target.split("/")[:3])
        chosen.setdefault(key, write.number)
    return set(chosen.values())


def files_and_first_table_writes(writes: list[Write]) -> set[int]:
    """Every file write, and the first write of each table method: a table write that
    fails leaves the same state wherever it is (no commit, and for `zero` and `partial`
    a data file that no commit names)."""
    tables = first_of_each([write for write in writes if write.is_table])
    return {write.number for write in writes if not write.is_table} | tables


def _faults(reference: Callable[[], Reference], selectors: dict[str, Selector]) -> list[Fault]:
    writes = reference().writes
    chosen = {kind: select(writes) for kind, select in selectors.items()}
    return [Fault(write, kind) for kind in selectors for write in writes
            if write.number in chosen[kind]]


BACKENDS = ("local", "azurite")
AZURE_BATCH_KINDS = ("raise", "hang")
"""Batch landing on Azurite: the faults whose outcome depends on the storage (a refused
write commits nothing; a stuck stream shows nothing). What `zero` and `partial` leave is
repaired by the same code on both backends, and removing a leftover file through
pyarrow's Azure filesystem costs Azurite seconds per call (its Data Lake API is missing)."""
ALL_KINDS_AT_EVERY_WRITE: dict[str, Selector] = dict.fromkeys(KINDS, every_write)
REFRESH_FAULTS: dict[str, Selector] = {"raise": every_write}
STEPS_FAULTS: dict[str, Selector] = {
    "raise": every_write,
    "hang": first_of_each,
    "zero": files_and_first_table_writes,
    "partial": files_and_first_table_writes,
}


def _generate(metafunc: pytest.Metafunc, names: str | tuple[str, ...],
              params: Callable[[], list[object]]) -> None:
    try:
        values = params()
    except Exception as error:  # reported by the test, not as a collection error
        failed = error
        single = (failed,) if isinstance(names, str) else ("local",) + (failed,) * (
            len(names) - 1)
        values = [pytest.param(*single, id="dry-run-failed")]
    metafunc.parametrize(names, values)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "event_fault" in names:
        _generate(metafunc, ("backend", "event_fault"), lambda: [
            _param(f, (backend, f), f"{backend}-") for backend in BACKENDS
            for f in _faults(events_reference, ALL_KINDS_AT_EVERY_WRITE)])
    if "batch_fault" in names:
        _generate(metafunc, ("backend", "batch_fault"), lambda: [
            _param(f, (backend, (file, f)), f"{backend}-{file}-")
            for backend in BACKENDS for file in ("rows", "whole")
            for f in _faults(partial(batch_reference, file), ALL_KINDS_AT_EVERY_WRITE)
            if backend == "local" or f.kind in AZURE_BATCH_KINDS])
    if "refresh_fault" in names:
        _generate(metafunc, "refresh_fault", lambda: [
            _param(f) for f in _faults(refresh_reference, REFRESH_FAULTS)])
    if "steps_fault" in names:
        _generate(metafunc, "steps_fault", lambda: [
            _param(f) for f in _faults(steps_reference, STEPS_FAULTS)])


def unwrap(fault: object) -> object:
    """The parameter, or the dry run's error raised."""
    if isinstance(fault, BaseException):
        raise AssertionError(f"the clean dry run failed: {fault!r}") from fault
    return fault


# -- lakes ----------------------------------------------------------------------------------


@pytest.fixture
def empty_lake(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Lake:
    """A new lake on the test's `backend` parameter ("local" or "azurite"; on Azurite its
    container exists, as in production)."""
    if backend == "local":
        return Lake.open(str(tmp_path / "lake"))
    azurite: Azurite = request.getfixturevalue("azurite")
    container = f"f{uuid.uuid4().hex[:12]}"
    lake = Lake.open(f"az://{container}/shoplake", connection_string=azurite.connection_string)
    lake.fs.create_dir(container)
    return lake


@pytest.fixture
def injected(monkeypatch: pytest.MonkeyPatch) -> Callable[[Injector], Injector]:
    """Installs an injector for the test (undone afterwards)."""

    def install(injector: Injector) -> Injector:
        return injector.install(monkeypatch.setattr)

    return install


@pytest.fixture
def refresh_lake(tmp_path: Path) -> Iterator[Lake]:
    """A copy of the refresh scenario's lake: two days refreshed, a third day and changed
    dimensions landed."""
    yield scenarios.copy_lake(refresh_base(), tmp_path / "lake")
