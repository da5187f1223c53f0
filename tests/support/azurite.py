"""Start and stop servers for tests: the Azurite storage emulator, and waiting for ports."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from shared.lake import AZURITE_ACCOUNT, AZURITE_KEY
from tests.support.paths import ROOT

AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite"


@dataclass(frozen=True)
class Azurite:
    blob_port: int
    queue_port: int
    table_port: int

    @property
    def connection_string(self) -> str:
        base = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={base}:{self.blob_port}/{AZURITE_ACCOUNT};"
            f"QueueEndpoint={base}:{self.queue_port}/{AZURITE_ACCOUNT};"
            f"TableEndpoint={base}:{self.table_port}/{AZURITE_ACCOUNT};"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float) -> None:
    """Until a server we started listens on `port` (or dies, or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited early with code {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{process.args[0]} did not listen on port {port}")


def azurite_command(azurite: Azurite, *storage: str) -> list[str]:
    """The command line of an Azurite on `azurite`'s ports (on 127.0.0.1), keeping its data
    as `storage` says (`--inMemoryPersistence`, or `--location <folder>`)."""
    return [str(AZURITE_BIN), "--silent", "--disableTelemetry", "--skipApiVersionCheck",
            *storage, "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1",
            "--tableHost", "127.0.0.1", "--blobPort", str(azurite.blob_port),
            "--queuePort", str(azurite.queue_port), "--tablePort", str(azurite.table_port)]


def start_azurite(workdir: Path) -> tuple[Azurite, subprocess.Popen]:
    if not AZURITE_BIN.exists():
        raise RuntimeError(f"{AZURITE_BIN} is missing: run `make test` (it runs `npm ci`)")
    azurite = Azurite(free_port(), free_port(), free_port())
    process = subprocess.Popen(azurite_command(azurite, "--inMemoryPersistence"), cwd=workdir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for port in (azurite.blob_port, azurite.queue_port, azurite.table_port):
            wait_for_port(port, process, timeout_s=60)
    except Exception:
        stop_azurite(process)
        raise
    return azurite, process


def stop_azurite(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
