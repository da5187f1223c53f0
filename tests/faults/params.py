"""The faults the tests are parametrized with: which kinds of fault, at which writes of a
clean dry run of each operation (so a write added to an operation is covered without
editing a test). `tests/faults/conftest.py` parametrizes the tests with these, and
`tests.faults.matrix` prints them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.faults.inject import KINDS, Injector, Write
from tests.faults.scenarios import Reference


@dataclass(frozen=True)
class Fault:
    write: Write
    kind: str

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.write.label}"

    def injector(self) -> Injector:
        return Injector(self.write.number, self.kind)


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


def faults(reference: Callable[[], Reference], selectors: dict[str, Selector]) -> list[Fault]:
    """The faults `selectors` choose among the writes of `reference`'s clean run."""
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


def unwrap(fault: object) -> object:
    """The parameter, or the dry run's error raised."""
    if isinstance(fault, BaseException):
        raise AssertionError(f"the clean dry run failed: {fault!r}") from fault
    return fault
