"""Print the fault matrix of docs/guarantees.md from the tests' own parameters.

`python -m tests.faults.matrix` (from the project root) runs the same clean dry runs the
tests are parametrized from, applies the same selection of faults and the same known
and prints one Markdown table per operation, in the outcome codes the document explains.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.faults import references
from tests.faults.inject import KINDS, Write
from tests.faults.params import (
    ALL_KINDS_AT_EVERY_WRITE,
    AZURE_BATCH_KINDS,
    REFRESH_FAULTS,
    STEPS_FAULTS,
    Fault,
    Selector,
)
from tests.faults.processes import spread
from tests.faults.scenarios import Reference

CODES = {"raise": "R", "hang": "H", "zero": "Z", "partial": "P"}
AZURE_NOTE = " and ".join(AZURE_BATCH_KINDS) + " also on Azurite"


def _cell(operation: str, fault: Fault, first_plan_write: int | None) -> str:
    code = CODES[fault.kind]
    if (operation == "steps" and fault.kind in ("zero", "partial")
            and fault.write.target.endswith("pending_plan.json")
            and fault.write.number != first_plan_write):
        return "D"  # a later step's plan is lost: the run fails, the next one rebuilds
    if not fault.write.committed and fault.kind != "raise":
        return "N"
    if operation == "refresh" and fault.write.number > 1:
        return code + "+"  # the rerun resumed the saved plan
    if fault.write.is_table and fault.kind in ("zero", "partial"):
        return code + "†"  # a data file no commit names stays, never read
    return code


def table(title: str, operation: str, reference: Callable[[], Reference],
          selectors: dict[str, Selector]) -> str:
    writes = reference().writes
    chosen = {kind: select(writes) for kind, select in selectors.items()}
    first_plan_write = next((w.number for w in writes
                             if w.target.endswith("pending_plan.json")), None)
    lines = [f"**{title}** ({len(writes)} writes)", "",
             "| # | write | raise | hang | 0-byte | partial |",
             "| --- | --- | --- | --- | --- | --- |"]
    for write in writes:
        cells = [_cell(operation, Fault(write, kind), first_plan_write)
                 if kind in chosen and write.number in chosen[kind] else "·" for kind in KINDS]
        lines.append(f"| {write.number} | `{write.method}` {_target(write)} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def _target(write: Write) -> str:
    """The target with generated names as placeholders."""
    target = re.sub(r"\w+-\w+-\d{20}-\d{20}", "<batch>", write.target)
    target = re.sub(r"[0-9a-f]{64}", "<sha256>", target)
    return f"`{re.sub(r'/[0-9a-f]{32}/', '/<run>/', target)}`"


def kill_points(title: str, writes: list[Write], points: list[int]) -> str:
    chosen = ", ".join(f"{n} (`{writes[n - 1].method}` {_target(writes[n - 1])})"
                       for n in points)
    return f"- {title}, {len(writes)} writes: killed at {chosen}."


def render() -> str:
    parts = [
        table("Event ingest: one Event Hubs batch over three event dates, with poison; every "
              "cell on the local lake and on Azurite", "events", references.events_reference,
              ALL_KINDS_AT_EVERY_WRITE),
        table(f"Batch landing: an orders export with bad rows; {AZURE_NOTE}", "batch",
              lambda: references.batch_reference("rows"), ALL_KINDS_AT_EVERY_WRITE),
        table(f"Batch landing: a file rejected whole (required columns missing); "
              f"{AZURE_NOTE}", "batch",
              lambda: references.batch_reference("whole"), ALL_KINDS_AT_EVERY_WRITE),
        table("Refresh, `refresh()` as `shoplake refresh` runs it (incremental: a new day, "
              "changed customers and catalogue)", "refresh", references.refresh_reference,
              REFRESH_FAULTS),
        table("Refresh, the nightly run's activities, each retried once", "steps",
              references.steps_reference, STEPS_FAULTS),
    ]
    first = references.first_refresh_reference().writes
    parts.append("\n".join([
        "**Process kills**: the command dies with `os._exit(137)` at the write, then runs "
        "again. Each killed run made exactly the clean run's writes up to that one and left "
        "only hidden temporary files of the streams it had open; each rerun exits 0 and "
        "leaves the lake equal to a clean run's (for the nightly run also the champion's "
        "kind, parameters and metrics, and the scored recommendations).", "",
        kill_points("`shoplake refresh` on a never-refreshed lake", first,
                    spread(len(first), 6)),
        "- `shoplake ingest-batch` of the orders export: killed at each of its 4 writes.",
        "- `shoplake ingest-events` of an NDJSON file in four batches: killed at 4 writes "
        "spread evenly from the first to the last.",
        "- `shoplake nightly`: killed at the first partition marker and at the champion "
        "pointer.",
        "- `shoplake refresh`: three real SIGKILLs, each once the run has begun a write "
        "drawn at random."]))
    return "\n\n".join(parts)


if __name__ == "__main__":
    try:
        print(render())
    finally:
        references.remove_workspace()
