"""`shoplake uploads`: uploaded files whose Synapse run is queued or failed, and retries."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from shared.batch.submit import SynapseUploadRunner
    from shoplake.services import Services

app = typer.Typer(
    name="uploads",
    help="Uploads landed by Synapse runs (REFRESH_RUNNER=synapse): the ledger, and retries.",
)
_SHA256 = re.compile(r"[0-9a-f]{64}")


@app.callback(invoke_without_command=True)
def uploads(
    context: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Every upload in the ledger, landed "
                                           "and rejected ones too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the entries as JSON.")] = False,
) -> None:
    """List uploads whose run is queued or failed, asking Synapse how queued runs are doing
    (REFRESH_RUNNER=synapse). Exit status 1 when one failed: `shoplake uploads retry` it."""
    if context.invoked_subcommand is not None:
        return
    from shared.batch.ledger import ledger_entries
    from shared.synapse import SynapseError

    services = _services()
    runner = _synapse_runner(services)
    try:
        entries = runner.refresh_ledger() if runner else ledger_entries(services.lake)
    except SynapseError as error:
        _fail("synapse error", error)
    shown = entries if show_all else [e for e in entries if e.get("status") in ("queued",
                                                                                "failed")]
    if as_json:
        print(json.dumps(shown))
    else:
        _print_entries(shown, show_all)
    if any(entry.get("status") == "failed" for entry in shown):
        raise typer.Exit(1)


@app.command()
def retry(
    upload: Annotated[str, typer.Argument(
        metavar="SHA256_OR_PATH", help="The upload's sha256, as `shoplake uploads` lists it, "
                                       "or its lake path raw/batch/<mapping>/<file>.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Start a new Synapse run for an upload whose run failed (or never started).

    Exit status 1 when there is nothing to retry (landed, or its run is still going), or
    when the file is rejected whole; 2 without REFRESH_RUNNER=synapse.
    """
    from shared.batch.ledger import read_entry
    from shared.batch.runner import Upload, UploadError
    from shared.synapse import SynapseError

    services = _services()
    runner = _synapse_runner(services)
    if runner is None:
        _fail("configuration error", "`shoplake uploads retry` starts a Synapse run: set "
              "REFRESH_RUNNER=synapse (with the local runner, upload the file again)", code=2)
    sha256 = upload if _SHA256.fullmatch(upload) else None
    path = upload
    try:
        if sha256 is not None:
            entry = read_entry(services.lake, sha256)
            if entry is None:
                raise UploadError(f"the ledger has no upload with sha256 {sha256} "
                                  "(`shoplake uploads --all` lists them)")
            if not entry.get("file"):
                raise UploadError(f"the ledger entry of {sha256} names no file: upload the "
                                  "file again")
            path = entry["file"]
        result = runner.retry(Upload.at(services.lake, path), sha256)
    except UploadError as error:
        _fail("cannot retry", error)
    except FileNotFoundError:
        _fail("cannot retry", f"{path} is no longer in the lake: upload the file again")
    except SynapseError as error:
        _fail("synapse error", error)
    if as_json:
        print(json.dumps(result.to_json()))
    elif result.status == "queued":
        typer.echo(f"{result.file}: queued as Synapse run {result.run_id}")
    else:
        typer.echo(json.dumps(result.to_json()))
    if result.status == "rejected":
        _fail("rejected", result.error)


def _services() -> Services:
    from shoplake.cli import state
    from shoplake.services import Services

    return Services(state.settings)


def _synapse_runner(services: Services) -> SynapseUploadRunner | None:
    """The uploads' Synapse runner, or None when uploads are landed in-process."""
    from shared.batch.submit import SynapseUploadRunner

    runner = services.runner
    return runner if isinstance(runner, SynapseUploadRunner) else None


def _fail(label: str, message: object, code: int = 1) -> NoReturn:
    from shoplake.cli import _print_error

    _print_error(label, message)
    raise typer.Exit(code)


def _print_entries(entries: list[dict[str, Any]], show_all: bool) -> None:
    if not entries:
        typer.echo("no uploads in the ledger" if show_all else "no queued or failed uploads")
    for entry in entries:
        when = entry.get("failed_at") or entry.get("landed_at") or entry.get("queued_at") or "?"
        line = (f"{entry.get('status', '?'):8} {when:32} {entry.get('file')}  "
                f"sha256 {str(entry.get('sha256'))[:12]}  run {entry.get('run_id') or '-'}")
        typer.echo(f"{line}  {entry['error']}" if entry.get("error") else line)
