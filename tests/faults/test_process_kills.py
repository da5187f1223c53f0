"""`shoplake` killed at its writes (as `kill -9` would), then run again: as a clean run.

Each command runs in a subprocess wrapped by `tests.faults.inject`, which counts the
lake's writes and ends the process with `os._exit(137)` at write N: before the write
starts, or for a stream once its bytes are written and not yet committed (a local
temporary file is left behind, as a real kill leaves it). Then the same command is run
again, normally, and the lake is compared with a clean run's. Kill points are chosen from
the clean run's writes as each test's docstring says, so the number of subprocesses stays
bounded; killed runs and reruns go two at a time (the nightly test also starts its clean
run beside its killed ones).

A refresh is also killed with a real SIGKILL at random moments of its run.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from model.batch_scoring import TABLE as RECOMMENDATIONS
from model.registry import Registry
from shared.lake import Lake, Zone
from tests.faults import scenarios
from tests.faults.inject import Write
from tests.faults.processes import finish, logged_writes, run, run_all, spread, start
from tests.faults.references import events_file, exports, first_refresh_reference, unrefreshed_base
from tests.support.shops import assert_same_tables, snapshot

pytestmark = pytest.mark.slow


def shape(write: Write) -> tuple[str, str]:
    """A write without the names a run makes up (model versions, decision stamps)."""
    target = re.sub(r"^models/decisions/.*", "models/decisions/<decision>", write.short_target)
    # Forecast and customer-value runs are records named by their version.
    target = re.sub(r"^models/(\w+)/\d{8}T[^/]+\.json$", r"models/\1/<version>.json", target)
    return write.method, re.sub(r"^models/\d{8}T[^/]+/", "models/<version>/", target)


def kill_and_rerun(tmp_path: Path, base: Path | None, args: list[str],
                   kills: list[dict[str, Any]], clean: Callable[[], list[Write]],
                   alongside: tuple[list[str], Path, dict[str, Any]] | None = None,
                   **settings: str) -> list[Lake]:
    """For each kill (`{"kill_at": n}` or `{"kill_on": regex}`), a copy of `base` (None:
    an empty lake) on which the command died at that write and was then run again to its
    end. `alongside` is a run started with the killed ones (the clean run); `clean()`
    gives the clean run's writes."""
    lakes = [tmp_path / f"killed-{number}" for number in range(len(kills))]
    logs = [tmp_path / f"killed-{number}.log" for number in range(len(kills))]
    for lake in lakes:
        if base is not None:
            shutil.copytree(base, lake)
    runs = [(args, lake, {**kill, "log": log, **settings})
            for lake, log, kill in zip(lakes, logs, kills, strict=True)]
    finished = run_all([*runs, alongside] if alongside else runs,
                       at_once=3 if alongside else 2)
    if alongside:
        assert finished[-1].returncode == 0, finished[-1].stderr[-2000:]
    clean_writes = clean()
    for lake_dir, log, kill, died in zip(lakes, logs, kills, finished, strict=False):
        assert died.killed, (kill, died.returncode, died.stderr[-2000:])
        writes = logged_writes(log)
        number = kill.get("kill_at") or next(
            w.number for w in writes if re.search(kill["kill_on"], w.target))
        # It died at write N, having made the same writes as the clean run until then
        # (a stream dies when it commits: writes opened meanwhile are logged too).
        assert list(map(shape, writes[:number])) == list(map(shape, clean_writes[:number]))
        assert len(writes) == number or clean_writes[number - 1].method == "open_output"
        # A local write publishes by renaming a temporary file: streams open when the
        # process died leave theirs, hidden from every listing (the next writer removes
        # them after an hour). Nothing else is left half-written.
        lake = Lake.open(str(lake_dir))
        open_folders = {Path(scenarios.at(lake, w.target)).parent
                        for w in writes if w.method == "open_output"}
        assert {Path(orphan).parent for orphan in scenarios.temporary_files(lake)
                } <= open_folders
    reruns = run_all([(args, lake, dict(settings)) for lake in lakes])
    for kill, rerun in zip(kills, reruns, strict=True):
        assert rerun.returncode == 0, (kill, rerun.stderr[-2000:])
    return [Lake.open(str(lake)) for lake in lakes]


def at_writes(numbers: list[int]) -> list[dict[str, Any]]:
    return [{"kill_at": number} for number in numbers]


# -- shoplake refresh -------------------------------------------------------------------------


def assert_refreshed_like(lake: Lake, clean: Lake) -> None:
    assert_same_tables(snapshot(lake), snapshot(clean))
    assert scenarios.watermark(lake) == scenarios.watermark(clean)
    assert not lake.exists(lake.path(Zone.STATE, "refresh", "pending_plan.json"))
    assert scenarios.lease(lake).run is None
    assert scenarios.no_duplicate_events(lake)


def test_refresh_killed_at_its_writes_then_rerun_equals_a_clean_refresh(tmp_path: Path) -> None:
    """A first refresh (every table created) killed at 6 of its writes spread evenly from
    the first (the plan) to the last (the watermark)."""
    reference = first_refresh_reference()
    points = spread(len(reference.writes), 6)

    lakes = kill_and_rerun(tmp_path, unrefreshed_base(), ["refresh", "--json"],
                           at_writes(points), lambda: reference.writes)

    clean = Lake.open(str(reference.after))
    for lake in lakes:
        assert_refreshed_like(lake, clean)


def test_refresh_killed_by_sigkill_at_random_moments_then_rerun(tmp_path: Path) -> None:
    """Three real SIGKILLs of `shoplake refresh` (three runs at once, each on its own
    lake), each sent once its run has begun a write drawn at random (seeded) from its
    writes: the signal lands wherever the process then is (inside a Delta commit, a
    DuckDB query, a file write)."""
    reference = first_refresh_reference()
    draw = random.Random(20261203)
    trials = []
    for trial in range(3):
        lake, log = tmp_path / f"trial-{trial}", tmp_path / f"trial-{trial}.log"
        shutil.copytree(unrefreshed_base(), lake)
        begun = draw.randint(1, len(reference.writes))
        process = start(["refresh"], lake, log=log)  # wrapped, to follow its writes
        trials.append((lake, log, begun, process))
    waiting = list(trials)
    while waiting:  # each killed as soon as it has begun its write
        for trial in list(waiting):
            _, log, begun, process = trial
            if len(logged_writes(log)) >= begun or process.poll() is not None:
                process.send_signal(signal.SIGKILL)
                waiting.remove(trial)
        time.sleep(0.01)
    outcomes = [finish(process).returncode for *_, process in trials]

    reruns = run_all([(["refresh", "--json"], lake, {"wrapped": False})
                      for lake, *_ in trials])

    for (lake, *_), rerun in zip(trials, reruns, strict=True):
        assert rerun.returncode == 0, rerun.stderr
        assert_refreshed_like(Lake.open(str(lake)), Lake.open(str(reference.after)))
    assert -signal.SIGKILL in outcomes  # at least one trial was killed mid-run


# -- shoplake ingest-batch --------------------------------------------------------------------


def test_ingest_batch_killed_at_each_write_then_rerun_equals_a_clean_upload(
        tmp_path: Path) -> None:
    """An orders export with bad rows, killed at every write (upload, landed rows,
    quarantined rows, ledger)."""
    export = exports()["rows"]
    args = ["ingest-batch", str(export), "--mapping", "shop_orders", "--json"]
    clean_log = tmp_path / "clean.log"
    assert run(args, tmp_path / "clean", log=clean_log).returncode == 0
    clean = logged_writes(clean_log)

    lakes = kill_and_rerun(tmp_path, None, args, at_writes(list(range(1, len(clean) + 1))),
                           lambda: clean)

    folders = ("raw/batch", "raw/landed", "quarantine/batch", "_state/ingest/batch")
    expected = scenarios.contents(Lake.open(str(tmp_path / "clean")), *folders)
    for lake in lakes:
        assert scenarios.contents(lake, *folders) == expected
        ledger: Any = next(iter(scenarios.contents(lake, "_state/ingest/batch").values()))
        assert ledger["received"] == ledger["landed"] + ledger["quarantined"]


# -- shoplake ingest-events -------------------------------------------------------------------


def ingested(lake: Lake) -> Any:
    """What event ingest left, without the receive time (the command stamps each run's
    batches with the time it read the file)."""
    found = scenarios.contents(lake, "raw/events", "quarantine/events", "_state/ingest/events",
                               volatile=("enqueued_at",))
    text = json.dumps(found, default=repr, sort_keys=True)
    return json.loads(re.sub(r"received_date=\d{4}-\d{2}-\d{2}", "received_date=*", text))


def test_ingest_events_killed_at_its_writes_then_rerun_equals_a_clean_ingest(
        tmp_path: Path) -> None:
    """An NDJSON file of four batches, killed at 4 of its writes spread evenly from the
    first to the last (raw files, quarantine files and batch records)."""
    args = ["ingest-events", str(events_file()), "--batch-size", "300", "--json"]
    clean_log = tmp_path / "clean.log"
    clean_run = run(args, tmp_path / "clean", log=clean_log)
    assert clean_run.returncode == 0, clean_run.stderr
    clean = logged_writes(clean_log)
    totals = json.loads(clean_run.stdout)
    assert totals["received"] == totals["landed"] + totals["quarantined"]
    assert totals["quarantined"] >= 3

    lakes = kill_and_rerun(tmp_path, None, args, at_writes(spread(len(clean), 4)),
                           lambda: clean)

    expected = ingested(Lake.open(str(tmp_path / "clean")))
    for lake in lakes:
        assert ingested(lake) == expected


# -- shoplake nightly -------------------------------------------------------------------------


def champion(lake: Lake) -> dict[str, Any]:
    """The champion's manifest, without what names or stamps this run."""
    registry = Registry(lake)
    manifest = registry.manifest(registry.champion())  # a complete version
    return {"kind": manifest.kind, "params": manifest.params, "metrics": manifest.metrics,
            "data": {**manifest.data, "refreshed_at": None}}


def recommendations(lake: Lake) -> list[dict[str, Any]]:
    rows = lake.table(Zone.CURATED, RECOMMENDATIONS).to_pyarrow_table()
    return scenarios.sort_rows(rows.drop_columns(["model_version", "scored_at"])).to_pylist()


def test_nightly_killed_at_its_steps_then_rerun_equals_a_clean_night(tmp_path: Path) -> None:
    """The nightly run killed at two writes: the first date partition's marker (in the
    refresh steps), and the champion pointer (the new model version registered and the
    decision recorded, the pointer not moved). The rerun finds the lake free: the killed
    run's process is gone."""
    settings: dict[str, str] = {}
    args = ["nightly", "--json"]
    clean_dir, clean_log = tmp_path / "clean", tmp_path / "clean.log"
    shutil.copytree(unrefreshed_base(), clean_dir)
    kills = [{"kill_on": "/partitions/"}, {"kill_on": "/champion.json$"}]

    lakes = kill_and_rerun(tmp_path, unrefreshed_base(), args, kills,
                           lambda: logged_writes(clean_log),
                           alongside=(args, clean_dir, {"log": clean_log, **settings}),
                           **settings)

    reference = Lake.open(str(clean_dir))
    for lake in lakes:
        assert_refreshed_like(lake, reference)
        assert champion(lake) == champion(reference)
        assert recommendations(lake) == recommendations(reference)
        pointer = orjson.loads(lake.read_bytes(lake.path(Zone.MODELS, "champion.json")))
        assert pointer["version"] in Registry(lake).versions()


def test_a_killed_nightly_run_frees_the_lake_at_once(tmp_path: Path) -> None:
    """`shoplake nightly` is one process holding the lake for the whole run: when it dies,
    the lake is free at once (a Durable run keeps it between steps for
    LAKE_LEASE_KEEP_SECONDS, since its steps run in other processes)."""
    lake = tmp_path / "lake"
    shutil.copytree(unrefreshed_base(), lake)
    killed = run(["nightly"], lake, kill_on="/partitions/")
    assert killed.killed, killed.stderr[-2000:]

    rerun = run(["refresh"], lake, wrapped=False, LAKE_LEASE_WAIT_SECONDS="0")

    assert rerun.returncode == 0, rerun.stderr
