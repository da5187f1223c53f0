"""The `shoplake` command as a user's environment runs it, wherever that environment is."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def _shoplake_command() -> list[str]:
    """The console script installed with the interpreter running the tests (`pip install`
    puts it next to that interpreter, in a virtual environment or not); without one, the
    package run as a module by that interpreter."""
    script = shutil.which("shoplake", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "shoplake"]


SHOPLAKE_COMMAND = _shoplake_command()
"""`[*SHOPLAKE_COMMAND, "demo", ...]` runs `shoplake demo ...`."""


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             arguments: list[str], environment: dict[str, str]
             ) -> tuple[int | str | None, str, str]:
    """`shoplake ARGUMENTS` in this process with `environment` set: (exit code, stdout,
    stderr)."""
    from shoplake.cli import main

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.argv", ["shoplake", *arguments])
    with pytest.raises(SystemExit) as exit_info:
        main()
    output = capsys.readouterr()
    return exit_info.value.code, output.out, output.err
