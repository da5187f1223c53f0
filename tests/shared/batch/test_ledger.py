"""The upload ledger `_state/ingest/batch/<sha256>.json`: which entries count as landed, and
the entries a Synapse run's job writes (its failure) and lands over."""

from __future__ import annotations

import threading

import orjson
import pytest

from shared.batch.ingest import content_sha256, ingest_batch_file
from shared.batch.ledger import ledger_entries, ledger_path, record_run_failure, update_entry
from shared.batch.mapping import load_mapping
from shared.lake import Lake, Zone

PRODUCTS = load_mapping("shop_products")
EXPORT = b"product_id,name,category,price,currency\nP1,Mug,Home,1.50,GBP\nP2,Cup,Home,x,GBP\n"


def uploaded(lake: Lake, data: bytes = EXPORT, name: str = "products.csv") -> str:
    path = lake.path(Zone.RAW, "batch", "shop_products", name)
    lake.write_bytes(path, data)
    return path


def write_entry(lake: Lake, path: str, status: str, **fields: object) -> str:
    sha256 = content_sha256(lake, path)
    lake.write_bytes(ledger_path(lake, sha256), orjson.dumps({
        "file": lake.relative(path), "mapping": "shop_products", "dataset": "products",
        "sha256": sha256, "status": status, "received": 0, "landed": 0, "quarantined": 0,
        "reasons": {}, "error": None, **fields}))
    return sha256


def read_entry(lake: Lake, sha256: str) -> dict:
    return orjson.loads(lake.read_bytes(ledger_path(lake, sha256)))


@pytest.mark.parametrize(("status", "fields"), [
    ("queued", {"run_id": "run-1", "queued_at": "2026-11-10T02:00:00+00:00"}),
    ("failed", {"run_id": "run-1", "error": "Failed: Spark job exited with 1"}),
    ("cancelled-by-a-future-version", {}),
])
def test_a_file_queued_or_failed_in_the_ledger_is_landed(local_lake: Lake, status: str,
                                                         fields: dict) -> None:
    path = uploaded(local_lake)
    sha256 = write_entry(local_lake, path, status, **fields)

    result = ingest_batch_file(local_lake, path, PRODUCTS)

    assert (result.status, result.received, result.landed, result.quarantined) == (
        "landed", 2, 1, 1)
    entry = read_entry(local_lake, sha256)
    assert {**entry, "landed_at": None} == {**result.to_json(), "landed_at": None}
    assert entry["run_id"] == fields.get("run_id")  # the run that landed it stays known
    assert ingest_batch_file(local_lake, path, PRODUCTS).status == "duplicate"


def test_a_landed_entry_of_an_older_version_is_a_duplicate(local_lake: Lake) -> None:
    # Written before entries had a run_id.
    path = uploaded(local_lake)
    write_entry(local_lake, path, "landed", received=2, landed=1, quarantined=1,
                reasons={"bad_decimal": 1}, landed_at="2026-11-10T02:00:00+00:00")

    result = ingest_batch_file(local_lake, path, PRODUCTS)

    assert (result.status, result.received, result.run_id) == ("duplicate", 2, None)
    assert not local_lake.exists(local_lake.path(Zone.RAW, "landed"))


# -- a run's failure, as the job records it -------------------------------------------------


def test_a_failed_run_is_recorded_over_its_queued_entry(local_lake: Lake) -> None:
    path = uploaded(local_lake)
    sha256 = write_entry(local_lake, path, "queued", run_id="run-1")

    recorded = record_run_failure(local_lake, sha256, "Spark job exited with 1\n  at stage 3")

    entry = read_entry(local_lake, sha256)
    assert recorded == entry
    assert (entry["status"], entry["error"], entry["run_id"]) == (
        "failed", "Spark job exited with 1 at stage 3", "run-1")
    assert "failed_at" in entry


@pytest.mark.parametrize("status", ["landed", "rejected"])
def test_a_run_failure_never_overwrites_what_the_file_came_to(local_lake: Lake,
                                                              status: str) -> None:
    path = uploaded(local_lake)
    sha256 = write_entry(local_lake, path, status)

    assert record_run_failure(local_lake, sha256, "failed after landing")["status"] == status

    assert read_entry(local_lake, sha256)["status"] == status


def test_a_run_failure_of_an_unknown_file_records_nothing(local_lake: Lake) -> None:
    assert record_run_failure(local_lake, "0" * 64, "no such file") is None

    assert ledger_entries(local_lake) == []


# -- compare-and-swap ----------------------------------------------------------------------


def test_concurrent_updates_of_an_entry_are_all_applied(any_lake: Lake) -> None:
    path = uploaded(any_lake)
    sha256 = write_entry(any_lake, path, "queued", notes=[])
    barrier = threading.Barrier(6)

    def add(note: int) -> None:
        barrier.wait()
        update_entry(any_lake, sha256, lambda entry: {**entry, "notes": [*entry["notes"], note]})

    threads = [threading.Thread(target=add, args=(note,)) for note in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(read_entry(any_lake, sha256)["notes"]) == list(range(6))


def test_ledger_entries_are_listed_oldest_first_and_a_damaged_one_is_skipped(
        local_lake: Lake) -> None:
    first = write_entry(local_lake, uploaded(local_lake, name="a.csv"), "failed",
                        queued_at="2026-11-10T02:00:00+00:00")
    second = write_entry(local_lake, uploaded(local_lake, EXPORT + b"P3,Tea,Food,2,GBP\n",
                                              "b.csv"),
                         "queued", queued_at="2026-11-09T02:00:00+00:00")
    local_lake.write_bytes(ledger_path(local_lake, "f" * 64), b"")  # cut short

    assert [entry["sha256"] for entry in ledger_entries(local_lake)] == [second, first]


MALFORMED_ENTRIES = [
    pytest.param(b"[]", id="a list"),
    pytest.param(b'"queued"', id="a string"),
    pytest.param(b'{"status": "queued", "queued_at": "2020-01-01T00:00:00"}', id="no sha256"),
    pytest.param(b'{"status": 5}', id="a status that is not text"),
    pytest.param(b'{"sha256": "SHA", "status": "queued", "file": 42}',
                 id="a file that is not text"),
    pytest.param(b'{"sha256": "SHA", "status": "queued", "queued_at": "2020-01-01T00:00:00"}',
                 id="a queued time without a zone"),
    pytest.param(b'{"sha256": "' + b"0" * 64 + b'", "status": "landed"}', id="another file's"),
]


@pytest.mark.parametrize("content", MALFORMED_ENTRIES)
def test_an_entry_that_is_json_but_not_an_entry_is_taken_as_damaged(
        local_lake: Lake, content: bytes) -> None:
    """Valid JSON of the wrong shape (a hand edit, another tool) must not stop the file from
    landing, nor the ledger from being listed: it is damaged, and written anew."""
    path = uploaded(local_lake)
    sha256 = content_sha256(local_lake, path)
    local_lake.write_bytes(ledger_path(local_lake, sha256),
                           content.replace(b"SHA", sha256.encode()))

    assert ledger_entries(local_lake) == [] or all(
        isinstance(entry.get("queued_at", ""), str) for entry in ledger_entries(local_lake))
    assert ingest_batch_file(local_lake, path, PRODUCTS).status == "landed"
    assert read_entry(local_lake, sha256)["status"] == "landed"
