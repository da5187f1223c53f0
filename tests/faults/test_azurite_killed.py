"""The storage itself killed mid-write: an Azurite of the test's own, with its data on disk,
killed with SIGKILL while blocks of a streamed upload are being staged, then started again
on the same ports and folder.

The blob clients of the writing lake are made not to retry (the SDK would otherwise retry
a refused connection for about a minute before failing the same way).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import AzureError

import shared.lake
from shared.lake import Lake, Zone
from tests.faults import scenarios
from tests.faults.processes import PersistentAzurite
from tests.faults.references import batch_reference, exports

pytestmark = pytest.mark.azurite

BLOCK = 64 * 1024
BATCH_FOLDERS = ("raw/batch", "raw/landed", "quarantine/batch", "_state/ingest/batch")


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[PersistentAzurite]:
    location = tmp_path / "azurite"
    location.mkdir()
    azurite = PersistentAzurite(location)
    azurite.start()
    yield azurite
    azurite.stop()


def open_lake(azurite: PersistentAzurite, monkeypatch: pytest.MonkeyPatch | None = None,
              container: str = "lake") -> Lake:
    """A lake on the emulator; with `monkeypatch`, its blob calls fail at once instead of
    being retried."""
    if monkeypatch is None:
        return Lake.open(f"az://{container}/shoplake",
                         connection_string=azurite.connection_string)
    connect = shared.lake._container_client

    def no_retries(url: str, name: str, credential: Any) -> Any:
        from azure.storage.blob import ContainerClient

        return lambda: ContainerClient(url, name, credential=credential, retry_total=0)

    with monkeypatch.context() as patch:
        patch.setattr(shared.lake, "_container_client", no_retries)
        lake = Lake.open(f"az://{container}/shoplake",
                         connection_string=azurite.connection_string)
    assert connect is shared.lake._container_client
    return lake


def test_a_blob_being_replaced_keeps_its_old_content_when_the_storage_dies(
        storage: PersistentAzurite, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = open_lake(storage)
    old_path = lake.path(Zone.RAW, "landed", "order_lines", "replaced.parquet")
    new_path = lake.path(Zone.RAW, "landed", "order_lines", "new.parquet")
    old = b"the old content, whole\n" * 1000
    lake.write_bytes(old_path, old)
    storage.stop()  # a clean restart: the old blob is safely stored
    storage.start()
    monkeypatch.setattr(shared.lake, "BLOCK_BYTES", BLOCK)
    writer = open_lake(storage, monkeypatch)
    block = bytes(range(256)) * (BLOCK // 256)

    with (pytest.raises(AzureError), writer.open_output(old_path) as replacing,
          writer.open_output(new_path) as creating):
        for number in range(8):
            replacing.write(block)
            creating.write(block)
            if number == 3:  # four blocks of each staged
                storage.kill()

    storage.start()
    reader = open_lake(storage)
    assert reader.read_bytes(old_path) == old
    assert not reader.exists(new_path)
    assert reader.list_files(reader.path(Zone.RAW)) == [old_path]


def test_an_upload_cut_off_by_the_storage_dying_lands_like_a_clean_one_when_retried(
        storage: PersistentAzurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """An orders export landed with 1 KiB blocks; Azurite is killed as the second block
    of the landed rows is staged (the upload itself committed). The upload fails; after
    the restart, the retried upload equals a clean one on a fresh lake."""
    monkeypatch.setattr(shared.lake, "BLOCK_BYTES", 1024)
    lake = open_lake(storage, monkeypatch)
    export = exports()["rows"]
    stage = shared.lake._BlockUpload._stage
    staged: list[str] = []

    def staging(upload: Any) -> None:
        staged.append(upload._path)
        if sum("/raw/landed/" in path for path in staged) == 2:
            storage.kill()
        stage(upload)

    monkeypatch.setattr(shared.lake._BlockUpload, "_stage", staging)
    with pytest.raises(AzureError):
        scenarios.upload(lake, export)
    monkeypatch.setattr(shared.lake._BlockUpload, "_stage", stage)
    assert "/raw/batch/" in staged[0] and "/raw/landed/" in staged[-1]

    storage.start()
    retried = open_lake(storage)
    result = scenarios.upload(retried, export)

    assert (result.status, result.received) == ("landed", result.landed + result.quarantined)
    clean = Lake.open(str(batch_reference("rows").after))
    assert scenarios.contents(retried, *BATCH_FOLDERS) == scenarios.contents(clean, *BATCH_FOLDERS)
