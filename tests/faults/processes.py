"""Processes the fault tests start: `shoplake` (clean, killed at a write, or racing), and
an Azurite that keeps its data on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.faults.inject import KILL_AT, KILL_ON, KILLED, LOG, Write
from tests.support.azurite import (
    Azurite,
    azurite_command,
    free_port,
    stop_azurite,
    wait_for_port,
)
from tests.support.cli import SHOPLAKE_COMMAND
from tests.support.paths import ROOT

TIMEOUT_S = 240


@dataclass(frozen=True)
class Finished:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == KILLED


def environment(lake: Path | str, **settings: str) -> dict[str, str]:
    """The process environment for a command on `lake` (settings as environment
    variables, as the Functions host provides them)."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("LAKE_", "SHOPLAKE_FAULT_"))}
    return {**env, "LAKE_URL": str(lake), **settings}


def start(args: list[str], lake: Path | str, *, kill_at: int | None = None,
          kill_on: str | None = None, log: Path | None = None, wrapped: bool = True,
          **settings: str) -> subprocess.Popen:
    """`shoplake <args>` on the lake; wrapped by `tests.faults.inject`, which logs each
    write to `log` and dies with `os._exit(137)` at write `kill_at` (or at the first
    write whose target matches the regular expression `kill_on`)."""
    env = environment(lake, **settings)
    if kill_at is not None:
        env[KILL_AT] = str(kill_at)
    if kill_on is not None:
        env[KILL_ON] = kill_on
    if log is not None:
        env[LOG] = str(log)
    command = ([sys.executable, "-m", "tests.faults.inject", *args] if wrapped
               else [*SHOPLAKE_COMMAND, *args])
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> Finished:
    stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    return Finished(list(map(str, process.args)), process.returncode, stdout, stderr)


def run(args: list[str], lake: Path | str, **options: object) -> Finished:
    return finish(start(args, lake, **options))  # type: ignore[arg-type]


def run_all(runs: list[tuple[list[str], Path | str, dict[str, object]]],
            at_once: int = 2) -> list[Finished]:
    """Run the commands, `at_once` at a time (the machine has two cores)."""
    finished: list[Finished] = []
    for first in range(0, len(runs), at_once):
        started = [start(args, lake, **options)  # type: ignore[arg-type]
                   for args, lake, options in runs[first:first + at_once]]
        finished.extend(finish(process) for process in started)
    return finished


def logged_writes(log: Path) -> list[Write]:
    if not log.exists():
        return []
    return [Write.from_json(line) for line in log.read_text(encoding="utf-8").splitlines()]


def spread(count: int, at_most: int) -> list[int]:
    """Write numbers to kill at: every one of `count` if there are at most `at_most`,
    else `at_most` spread evenly from the first to the last."""
    if count <= at_most:
        return list(range(1, count + 1))
    return sorted({round(1 + i * (count - 1) / (at_most - 1)) for i in range(at_most)})


class PersistentAzurite:
    """An Azurite of the test's own that keeps its data on disk (`--location`), so it can
    be killed and started again on the same ports with what it had stored."""

    def __init__(self, location: Path) -> None:
        self.location = location
        self.emulator = Azurite(free_port(), free_port(), free_port())
        self.process: subprocess.Popen | None = None

    @property
    def connection_string(self) -> str:
        return self.emulator.connection_string

    def start(self) -> None:
        emulator = self.emulator
        self.process = subprocess.Popen(
            azurite_command(emulator, "--location", str(self.location)),
            cwd=self.location, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(emulator.blob_port, self.process, timeout_s=60)

    def kill(self) -> None:
        """SIGKILL: no chance to save anything."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(30)

    def stop(self) -> None:
        """A clean shutdown (Azurite saves its metadata, which it otherwise does every
        5 seconds)."""
        if self.process is not None and self.process.poll() is None:
            stop_azurite(self.process)
