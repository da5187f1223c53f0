"""A refresh killed with SIGKILL part-way, then rerun, equals one that was never killed."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from shared.events.raw import raw_events
from shared.lake import Lake, Zone
from shared.warehouse.refresh import refresh
from tests.support.paths import ROOT
from tests.support.shops import FedShop, assert_same_tables, snapshot

# Runs a refresh that reports each step and, at the chosen one, waits to be killed.
_CHILD = """
import sys
from shared.events.raw import raw_events
from shared.lake import Lake, Zone
from shared.warehouse.refresh import refresh

lake_dir, stop_at = sys.argv[1], sys.argv[2]

def progress(step):
    print(step, flush=True)
    if step.startswith(stop_at):
        sys.stdin.read()

refresh(Lake.open(lake_dir), progress=progress)
print("finished", flush=True)
"""


def _kill_refresh_at(lake_dir: Path, step: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(lake_dir), step], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:
            assert line.strip() != "finished", f"the refresh never reached {step!r}"
            if line.startswith(step):
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("step", [
    "order_lines",  # events rebuilt, order lines not
    "dim_customer: merge",  # products merged (dates planned), customers not
    "fact_events",  # sales rebuilt with the new dimensions, the rest not
    "kpi_top_products",  # everything but the last table and the watermark
])
def test_a_killed_refresh_rerun_equals_an_uninterrupted_one(
        tmp_path: Path, fed_shop: Callable[[Lake], FedShop], step: str) -> None:
    interrupted = Lake.open(str(tmp_path / "interrupted"))
    fed = fed_shop(interrupted)
    fed.deliver(1, 3)
    refresh(interrupted)
    fed.deliver(4, 6)
    products = fed.shop.products
    fed.feed.upload(products.set_column(
        products.schema.get_field_index("category"), "category",
        pa.array(["Garden"] * products.num_rows)), "shop_products", "products-v2.csv")
    shutil.copytree(tmp_path / "interrupted", tmp_path / "uninterrupted")
    uninterrupted = Lake.open(str(tmp_path / "uninterrupted"))
    refresh(uninterrupted)

    _kill_refresh_at(tmp_path / "interrupted", step)
    rerun = refresh(interrupted)
    assert rerun.resumed
    assert_same_tables(snapshot(uninterrupted), snapshot(interrupted))


def test_an_empty_raw_file_left_by_an_interrupted_write_is_not_read(
        tmp_path: Path, fed_shop: Callable[[Lake], FedShop]) -> None:
    """Before writes were atomic on Azure, a storage outage mid-write left a 0-byte
    Parquet file and no batch record; every refresh then failed ("Parquet file size is 0
    bytes") until the ingest was rerun. The batch is redelivered: the file holds nothing."""
    lake = Lake.open(str(tmp_path / "lake"))
    fed_shop(lake).deliver(1, 2)
    clean = Lake.open(str(tmp_path / "clean"))
    shutil.copytree(tmp_path / "lake", tmp_path / "clean")
    refresh(clean)
    broken = Path(lake.path(Zone.RAW, "events", "event_date=2026-10-02",
                            "eventhub-0-00000000000000099000-00000000000000099999.parquet"))
    broken.write_bytes(b"")

    refresh(lake)

    assert_same_tables(snapshot(clean), snapshot(lake))
    assert raw_events(lake).count_rows() == raw_events(clean).count_rows()
