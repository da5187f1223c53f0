"""Two processes writing the same Delta tables at the same moment, through `Lake.write_table`.

No lease is taken: this is what two partition steps of one nightly run do (they share the
run's lease), and what Delta itself must keep consistent. Each side retries a commit
conflict (`CommitFailedError`) from the table's latest version, as the refresh's callers
do; the rows each side wrote and the conflicts it met are reported to the parent.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from typing import Any

import pyarrow as pa
from deltalake.exceptions import CommitFailedError

from shared.lake import Lake, Zone

ATTEMPTS = 6
DAYS = {"a": dt.date(2026, 10, 1), "b": dt.date(2026, 10, 2)}


def rows(side: str, trial: int, phase: str, count: int = 50) -> pa.Table:
    """The rows `side` writes in a phase of a trial (distinct per side)."""
    return pa.table({
        "key": pa.array([f"{phase}-{trial}-{side}-{i:03d}" for i in range(count)]),
        "side": pa.array([side] * count),
        "day": pa.array([DAYS[side]] * count, pa.date32()),
    })


def _retrying(write: Callable[[bool], None]) -> int:
    """Run the write, retrying commit conflicts; how many conflicts it met."""
    for attempt in range(ATTEMPTS):
        try:
            write(attempt > 0)
            return attempt
        except CommitFailedError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def race(url: str, side: str, trials: int, barrier: Barrier, report: Any) -> None:
    """For each trial: create a missing table (a whole replace), replace it whole from a
    version both sides opened, and create a partitioned table writing one date each."""
    try:
        lake = Lake.open(url)
        conflicts = {"create": 0, "replace": 0, "dates": 0}
        for trial in range(trials):
            for phase in ("create", "replace", "dates"):
                conflicts[phase] += _phase(lake, side, trial, phase, barrier)
        report.put((side, conflicts, None))
    except BaseException:
        report.put((side, None, traceback.format_exc()))
        barrier.abort()


def _phase(lake: Lake, side: str, trial: int, phase: str, barrier: Barrier) -> int:
    """One phase of a trial, started by both sides at once; the conflicts it met."""
    name = f"race_{trial}" if phase != "dates" else f"dates_{trial}"
    data = rows(side, trial, phase)
    opened = lake.table(Zone.PROCESSED, name) if phase == "replace" else None
    barrier.wait()  # both sides ready (for a replace: both at the same table version)

    def write(retry: bool) -> None:
        if phase == "dates":
            day = DAYS[side].isoformat()
            lake.write_table(data, Zone.PROCESSED, name, mode="overwrite",
                             partition_by=["day"], predicate=f"day IN ('{day}')")
        else:
            lake.write_table(data, Zone.PROCESSED, name, mode="overwrite",
                             table=None if retry else opened)

    conflicts = _retrying(write)
    barrier.wait()  # both done before either reads the table again
    return conflicts
