"""`shoplake synapse`: publish the Spark job and pipeline that run shoplake on Azure Synapse."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="synapse",
    help="Azure Synapse: publish the Spark job and pipeline (REFRESH_RUNNER=synapse).",
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
