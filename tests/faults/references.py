"""Clean references of the fault tests, each built once per session: lakes before and
after a clean run of an operation, with the writes it made (from a dry run), and the
inputs the operations share.

Plain functions (cached), so the conftest uses them both while collecting (to count an
operation's writes) and in fixtures, and tests and `tests.faults.matrix` call them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

from shared.lake import Lake
from tests.faults import scenarios
from tests.faults.scenarios import Reference

_WORKSPACE: list[Path] = []


def workspace() -> Path:
    """A folder for the references, removed by `remove_workspace` (when the session
    ends)."""
    if not _WORKSPACE:
        _WORKSPACE.append(Path(tempfile.mkdtemp(prefix="shoplake-faults-")))
    return _WORKSPACE[0]


def remove_workspace() -> None:
    for folder in _WORKSPACE:
        shutil.rmtree(folder, ignore_errors=True)
    _WORKSPACE.clear()


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
