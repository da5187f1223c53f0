"""A writer that lost the lake while it was paused must not move what a newer run moved.

The writer is held just before its compare-and-swap write (the watermark, the champion
pointer) while its lease passes to another run (as when a paused holder's lease expires)
and that run finishes its own work. Released, the stale writer's write is refused with
`StaleWriteError` and the newer content stays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from model.promotion import decide
from model.registry import Manifest, Registry, VersionFiles
from shared import lease
from shared.lake import Lake, StaleWriteError, Zone
from shared.lease import LeaseRecord, lease_path
from tests.faults import scenarios
from tests.faults.references import refresh_reference
from tests.support.shops import assert_same_tables, snapshot

NOW = datetime(2026, 10, 4, 2, 0, tzinfo=UTC)


@contextmanager
def paused_before(monkeypatch: pytest.MonkeyPatch, method: str, suffix: str
                  ) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Hold the first `Lake.<method>` call on a path ending with `suffix` (in any thread)
    until released; yields (reached, release)."""
    original = getattr(Lake, method)
    reached, release = threading.Event(), threading.Event()

    def holding(lake: Lake, path: str, *args: Any, **kwargs: Any) -> Any:
        if path.endswith(suffix) and not reached.is_set():
            reached.set()
            release.wait(60)
        return original(lake, path, *args, **kwargs)

    monkeypatch.setattr(Lake, method, holding)
    try:
        yield reached, release
    finally:
        release.set()


def in_thread(operation: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(operation())
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def usurp(lake: Lake, run: str) -> None:
    """The lake passes to `run`, as when the holder's lease expired and `run` took it."""
    current = lake.read_versioned(lease_path(lake))
    record = LeaseRecord(run, NOW.isoformat(), {}, time.time() + 600)
    lake.write_bytes_if(lease_path(lake), record.to_json(), current.version)


def test_a_refresh_that_lost_the_lake_cannot_move_the_watermark_back(
        refresh_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    with paused_before(monkeypatch, "write_bytes_if", "/watermark.json") as (reached, release):
        stale, outcome = in_thread(lambda: scenarios.run_refresh(refresh_lake))
        assert reached.wait(60)
        usurp(refresh_lake, "newer-run")
        with refresh_lake.writer("newer-run"):
            newer = scenarios.run_refresh(refresh_lake)  # finishes the stale run's plan too
        written = refresh_lake.read_bytes(refresh_lake.path(Zone.STATE, "refresh",
                                                            "watermark.json"))
        release.set()
        stale.join(60)

    assert newer.resumed
    assert len(outcome) == 1 and isinstance(outcome[0], StaleWriteError), outcome
    assert refresh_lake.read_bytes(refresh_lake.path(Zone.STATE, "refresh",
                                                     "watermark.json")) == written
    clean = Lake.open(str(refresh_reference().after))
    assert_same_tables(snapshot(refresh_lake), snapshot(clean))
    assert scenarios.watermark(refresh_lake) == scenarios.watermark(clean)


def register(registry: Registry, version: str, ndcg: float) -> None:
    empty = pa.table({"x": pa.array([], pa.int64())})
    registry.register(Manifest(version, "popularity", {}, {"ndcg_at_10": ndcg,
                                                          "popularity": {"ndcg_at_10": ndcg}},
                               [], {}, NOW.isoformat()),
                      VersionFiles(b"not a real model", empty, empty))


def test_a_promotion_that_lost_the_lake_cannot_replace_a_newer_champion(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    registry = Registry(lake)
    for version, ndcg in (("v1-old", 0.30), ("v2-stale", 0.31), ("v3-newer", 0.32)):
        register(registry, version, ndcg)
    decide(registry, "v1-old", NOW)

    with paused_before(monkeypatch, "write_bytes_if", "/champion.json") as (reached, release):
        stale, outcome = in_thread(lambda: decide(registry, "v2-stale", NOW))
        assert reached.wait(60)
        usurp(lake, "newer-run")
        with lake.writer("newer-run"):
            assert decide(registry, "v3-newer", NOW).promoted
        release.set()
        stale.join(60)

    assert len(outcome) == 1 and isinstance(outcome[0], StaleWriteError), outcome
    assert registry.champion() == "v3-newer"
    pointer = orjson.loads(lake.read_bytes(lake.path(Zone.MODELS, "champion.json")))
    assert pointer["version"] == "v3-newer"
    # Its decision is kept (written before the move), so the refusal is explained.
    assert [d.challenger for d in registry.decisions()].count("v2-stale") == 1


def test_a_table_written_by_a_writer_that_lost_the_lake_is_redone_by_the_next_refresh(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer frozen inside a table write (after its last look at the lease: a VM
    pause) while another run takes the lake over and refreshes newer data: once thawed,
    its stale write commits (Delta sees no conflict), and it stops at the watermark. Its
    plan is kept, so the next refresh redoes what it touched: before, that next refresh
    found nothing changed and the stale table stayed wrong until a full refresh."""
    lake = Lake.open(str(tmp_path / "lake"))
    feed = scenarios.deliver_unrefreshed(lake, tmp_path / "exports", days=2)
    real_check = lease.check_held
    thawed = threading.local()
    reached, release = threading.Event(), threading.Event()
    original = Lake.write_table

    def frozen_inside_the_write(self: Lake, data: Any, zone: Zone, *parts: str,
                                **kwargs: Any) -> Any:
        if parts == ("kpi_customer_lifetime_value",) and not reached.is_set():
            real_check(self)  # its last look: the lake is still its own
            reached.set()
            release.wait(60)
            thawed.inside = True  # the rest of this write no longer looks
        try:
            return original(self, data, zone, *parts, **kwargs)
        finally:
            thawed.inside = False

    monkeypatch.setattr(Lake, "write_table", frozen_inside_the_write)
    monkeypatch.setattr(lease, "check_held",
                        lambda lake: None if getattr(thawed, "inside", False)
                        else real_check(lake))
    stale, outcome = in_thread(lambda: scenarios.run_refresh(lake))
    assert reached.wait(60)
    scenarios.deliver_rest(feed, 2)  # newer orders and customers
    usurp(lake, "newer-run")
    with lake.writer("newer-run"):
        scenarios.run_refresh(lake)
    release.set()
    stale.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], StaleWriteError), outcome
    lake.release_writer("newer-run")

    repaired = scenarios.run_refresh(lake)

    clean = Lake.open(str(tmp_path / "clean"))
    scenarios.deliver_unrefreshed(clean, tmp_path / "clean-exports",
                                  days=len(scenarios.tiny_shop()[1]))
    scenarios.run_refresh(clean)
    assert repaired.resumed is False
    assert_same_tables(snapshot(lake), snapshot(clean))
    assert lake.list_files(lake.path(Zone.STATE, "refresh", "lost")) == []
