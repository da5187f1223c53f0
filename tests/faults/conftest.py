"""The fault tests' parametrization and lakes: each test is parametrized with the faults
chosen (tests/faults/params.py) from a clean dry run of its operation (so a write added to
an operation is covered without editing a test).

The dry runs happen while the tests are collected; their lakes are the clean references
the broken-then-recovered lakes are compared with (tests/faults/references.py, built once
per session and removed when it ends).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from shared.lake import Lake
from tests.faults import scenarios
from tests.faults.inject import Injector
from tests.faults.params import (
    ALL_KINDS_AT_EVERY_WRITE,
    AZURE_BATCH_KINDS,
    BACKENDS,
    REFRESH_FAULTS,
    STEPS_FAULTS,
    Fault,
    faults,
)
from tests.faults.references import (
    batch_reference,
    events_reference,
    refresh_base,
    refresh_reference,
    remove_workspace,
    steps_reference,
)
from tests.support.azurite import Azurite


def pytest_unconfigure(config: pytest.Config) -> None:
    remove_workspace()


# -- the faults tests are parametrized with ----------------------------------------------------


def _param(fault: Fault, values: tuple[object, ...] | None = None,
           id_prefix: str = "") -> object:
    marks = [pytest.mark.azurite] if values and values[0] == "azurite" else []
    return pytest.param(*(values or (fault,)), id=id_prefix + fault.id, marks=marks)


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
            for f in faults(events_reference, ALL_KINDS_AT_EVERY_WRITE)])
    if "batch_fault" in names:
        _generate(metafunc, ("backend", "batch_fault"), lambda: [
            _param(f, (backend, (file, f)), f"{backend}-{file}-")
            for backend in BACKENDS for file in ("rows", "whole")
            for f in faults(partial(batch_reference, file), ALL_KINDS_AT_EVERY_WRITE)
            if backend == "local" or f.kind in AZURE_BATCH_KINDS])
    if "refresh_fault" in names:
        _generate(metafunc, "refresh_fault", lambda: [
            _param(f) for f in faults(refresh_reference, REFRESH_FAULTS)])
    if "steps_fault" in names:
        _generate(metafunc, "steps_fault", lambda: [
            _param(f) for f in faults(steps_reference, STEPS_FAULTS)])


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
