"""`shoplake synapse`: publish the Spark job and pipeline that run shoplake on Azure Synapse."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from shoplake.serverless_deploy import Mode

app = typer.Typer(
    name="synapse",
    help="Azure Synapse: publish the Spark job and pipeline (REFRESH_RUNNER=synapse); the "
         "serverless SQL views Power BI reads.",
    no_args_is_help=True,
)


@app.command()
def deploy(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show what would be uploaded and published; contact nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Publish the Spark job and the pipeline to the Synapse workspace.

    Uploads job.py, the package zip and requirements.txt to SYNAPSE_JOB_FOLDER (each only
    when it changed), then creates or updates the Spark job definition and the pipeline.
    Needs LAKE_URL (abfss://), SYNAPSE_ENDPOINT and SYNAPSE_JOB_FOLDER; SYNAPSE_PIPELINE
    (default shoplake-refresh) and SYNAPSE_SPARK_POOL name what is published.
    """
    from shared.synapse import SynapseError
    from shoplake.cli import _print_error, state
    from shoplake.synapse_deploy import open_deployer, plan_deploy

    # The SDK's serializer warns "Discriminator type is absent" for every pipeline activity
    # it checks before sending it unchanged: noise for whoever runs the command.
    logging.getLogger("azure.synapse.artifacts._serialization").setLevel(logging.ERROR)
    plan = plan_deploy(state.settings)
    if dry_run:
        _echo({"dry_run": True, **plan.describe()}, as_json, _plan_lines)
        return
    try:
        with open_deployer(state.settings) as deployer:
            report = deployer.deploy(plan)
    except SynapseError as error:
        _print_error("synapse deploy failed", error)
        raise typer.Exit(1) from None
    _echo({"dry_run": False, "folder": plan.folder.url, "uploaded": list(report.uploaded),
           "unchanged": list(report.unchanged),
           "spark_job_definition": report.spark_job_definition, "pipeline": report.pipeline},
          as_json, _report_lines)


@app.command()
def sql(
    write: Annotated[bool, typer.Option(
        "--write", help="Regenerate infra/synapse/sql/ from the catalog; contact "
                        "nothing.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the T-SQL that would run, settings filled in; contact "
                          "nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Create or update the serverless SQL database and views Power BI reads.

    Runs infra/synapse/sql/*.sql in order on the workspace's serverless SQL endpoint,
    <workspace>-ondemand.sql.azuresynapse.net (the workspace of SYNAPSE_ENDPOINT), signed in
    with DefaultAzureCredential: the database shoplake, a data source on LAKE_URL's curated
    zone, the role shoplake_readers and one view per curated table. Safe to run again. Files
    that no longer match the catalog are refused: --write regenerates them.
    """
    from shared.synapse import SynapseError
    from shoplake.cli import _print_error, state
    from shoplake.serverless_deploy import (
        StaleSqlError,
        apply_plan,
        open_sql_session,
        plan_sql,
    )

    if write and dry_run:
        _print_error("usage error", "--write and --dry-run do not go together")
        raise typer.Exit(2)
    if write:
        _write_sql(as_json)
        return
    try:
        plan = plan_sql(state.settings)
        if dry_run:
            _echo({"dry_run": True, **plan.describe()}, as_json, _sql_lines)
            return
        with closing(open_sql_session(state.settings, plan.server)) as session:
            report = apply_plan(plan, session, progress=_quiet if as_json else typer.echo)
    except (SynapseError, StaleSqlError) as error:
        _print_error("synapse sql failed", error)
        raise typer.Exit(1) from None
    _echo({"dry_run": False, "server": report.server, "database": "shoplake",
           "scripts": [{"name": script.name, "batches": len(script.batches)}
                       for script in report.scripts], "views": list(report.views)},
          as_json, lambda done: [f"database {done['database']} on {done['server']}: "
                                 f"{len(done['views'])} views ({', '.join(done['views'])})"])


def _write_sql(as_json: bool) -> None:
    from shoplake.serverless_sql import SQL_FOLDER, generate, write_files
    from shoplake.synapse_deploy import ROOT

    report = write_files(ROOT / SQL_FOLDER, generate())
    _echo({"folder": SQL_FOLDER, "written": list(report.written),
           "removed": list(report.removed), "unchanged": list(report.unchanged)}, as_json,
          lambda done: [*(f"wrote {SQL_FOLDER}/{name}" for name in done["written"]),
                        *(f"removed {SQL_FOLDER}/{name}" for name in done["removed"]),
                        f"{len(done['unchanged'])} files unchanged"])


@app.command()
def pbids(
    path: Annotated[Path, typer.Argument(help="The .pbids file to write.")],
    mode: Annotated[str, typer.Option(
        "--mode", help="Import (a copy refreshed on a schedule) or DirectQuery.")] = "Import",
) -> None:
    """Write a Power BI data source file for the serverless SQL endpoint and database.

    Opening it in Power BI Desktop connects to <workspace>-ondemand.sql.azuresynapse.net
    (the workspace of SYNAPSE_ENDPOINT), database shoplake, and shows its views.
    """
    from shoplake.cli import _print_error, state
    from shoplake.serverless_deploy import serverless_endpoint, write_pbids

    if mode not in ("Import", "DirectQuery"):
        _print_error("usage error", f"--mode is Import or DirectQuery, not {mode!r}")
        raise typer.Exit(2)
    server = serverless_endpoint(state.settings.synapse_endpoint)
    chosen: Mode = "Import" if mode == "Import" else "DirectQuery"
    write_pbids(path, server, chosen)
    typer.echo(f"wrote {path}: {server}, database shoplake, {mode}")


def _quiet(_: str) -> None:
    pass


def _sql_lines(plan: dict[str, Any]) -> list[str]:
    """The dry run as a script sqlcmd could run."""
    return [
        f"-- dry run: nothing sent; on {plan['server']} (connected to master), in this order:",
        *(line for script in plan["scripts"]
          for line in (f"-- {script['name']}", *(f"{batch}\nGO" for batch in script["batches"]))),
    ]


def _echo(document: dict[str, Any], as_json: bool,
          lines: Callable[[dict[str, Any]], list[str]]) -> None:
    typer.echo(json.dumps(document, indent=2) if as_json else "\n".join(lines(document)))


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    package = plan["package"]
    return [
        "dry run: nothing uploaded or published",
        *(f"would upload {upload['url']} ({upload['bytes']:,} bytes, sha256 {upload['sha256']})"
          for upload in plan["uploads"]),
        f"package: {package['files']} files, sha256 {package['sha256']}",
        *(line for kind, label in (("spark_job_definition", "Spark job definition"),
                                   ("pipeline", "pipeline"))
          for line in (f"would publish {label} {plan[kind]['name']}:",
                       json.dumps(plan[kind]["definition"], indent=2))),
    ]


def _report_lines(report: dict[str, Any]) -> list[str]:
    return [
        *(f"uploaded {name} to {report['folder']}" for name in report["uploaded"]),
        *(f"unchanged {name}" for name in report["unchanged"]),
        f"published Spark job definition {report['spark_job_definition']}",
        f"published pipeline {report['pipeline']}",
    ]
