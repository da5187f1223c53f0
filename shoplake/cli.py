"""`shoplake`: the command line. Every command runs the same library code as the Functions."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from model.scoring import ModelKind
from shared.settings import Settings
from shoplake.synapse_cli import app as synapse_app
from shoplake.uploads_cli import app as uploads_app

app = typer.Typer(
    name="shoplake",
    help="Serverless e-commerce lakehouse: ingest, refine, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(synapse_app)
app.add_typer(uploads_app)
console = Console(stderr=True)
EXIT_BUSY = 75
"""Exit status when another run holds the lake (EX_TEMPFAIL: try again later)."""


class State:
    settings: Settings


state = State()


@app.callback()
def main_options(
    lake: Annotated[str | None, typer.Option(
        "--lake", metavar="PATH_OR_URL", envvar="LAKE_URL", show_envvar=True,
        help="Lake root: a folder, az://container/path or abfss://container@account.dfs."
             "core.windows.net/path.")] = None,
) -> None:
    from pydantic import ValidationError

    from shared.lake import Lake
    from shared.settings import ConfigurationError

    try:
        # An explicit --lake "" is a mistake, not "unset": Settings refuses it.
        state.settings = Settings(**({} if lake is None else {"lake_url": lake}))
        # Opening the lake does no I/O, and refuses an unusable URL or credentials: that is
        # a usage error of every command, said before it starts, not a traceback midway.
        Lake.from_settings(state.settings)
    except (ConfigurationError, ValidationError) as error:
        _print_error("configuration error", _configuration_message(error))
        raise typer.Exit(2) from None


def _print_error(label: str, message: object) -> None:
    """`label: message` as one line on stderr, the message exactly as it is: not read as
    rich markup (which ate "[columns]"), nor wrapped at the terminal's width."""
    console.print(Text.assemble((f"{label}: ", "red"), str(message)), soft_wrap=True)


def _configuration_message(error: Exception) -> str:
    """A configuration error in one line (pydantic puts each problem on lines of its own)."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return str(error)
    return "; ".join(f"{'.'.join(map(str, problem['loc']))}: "
                     f"{problem['msg'].removeprefix('Value error, ')}"
                     for problem in error.errors())


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1, max=120, help="Days of shop history.")] = 56,
    sessions_per_day: Annotated[int, typer.Option(min=10, help="Average sessions a day.")] = 1200,
    poison_rate: Annotated[float, typer.Option(min=0, max=0.5, help="Share of poison events "
                                               "mixed in, as buggy producers send them.")] = 0.005,
    out: Annotated[Path, typer.Option(help="Where the simulated exports go.")] = Path("out"),
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Embedded end-to-end run: simulate a shop and ingest its events (no cloud needed)."""
    from shoplake.demo import run_demo

    run_demo(state.settings, days=days, sessions_per_day=sessions_per_day,
             poison_rate=poison_rate, out=out, seed=seed, console=console)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for the CSV exports and events.ndjson.")] = Path(
        "out"),
    days: Annotated[int, typer.Option(min=1, max=3650)] = 28,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2026-09-01",
    products: Annotated[int, typer.Option(min=30)] = 400,
    customers: Annotated[int, typer.Option(min=10)] = 2000,
    sessions_per_day: Annotated[int, typer.Option(min=1)] = 1500,
    seed: Annotated[int, typer.Option()] = 7,
    to: Annotated[str, typer.Option(help="`files` writes exports; `eventhub` also sends the "
                                    "events to EVENTHUB_NAME.")] = "files",
) -> None:
    """Simulate a shop: catalogue, customers, funnel sessions, orders and events."""
    from shared.simulator import (
        ShopConfig,
        event_bodies,
        event_partition_keys,
        open_producer,
        send_to_eventhub,
        simulate_shop,
        write_exports,
    )

    if to not in ("files", "eventhub"):
        raise typer.BadParameter("use --to files or --to eventhub", param_hint="--to")
    config = ShopConfig(seed=seed, start=_date(start), days=days, products=products,
                        customers=customers, sessions_per_day=sessions_per_day)
    shop = simulate_shop(config)
    files = write_exports(shop, out)
    console.print(f"wrote {files.products} ({files.products_rows:,} rows), {files.customers} "
                  f"({files.customers_rows:,}), {files.orders} ({files.orders_rows:,}), "
                  f"{files.events} ({files.events_rows:,})")
    if to == "eventhub":
        with open_producer(state.settings) as producer:
            for day in shop.days():
                summary = send_to_eventhub(event_bodies(day.events),
                                           event_partition_keys(day.events), producer)
                console.print(f"{day.date}: {summary}")


@app.command("ingest-events")
def ingest_events(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="NDJSON events.")],
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Ingest an NDJSON file through the same path as Event Hubs, in batches.

    The file is streamed; its batches are named from a digest of its content and the line
    numbers, so ingesting the same file again rewrites the same files.
    """
    from dataclasses import asdict

    from shared.events.files import ndjson_batches
    from shared.events.raw import IngestTotals
    from shoplake.services import Services

    services = Services(state.settings)
    totals = IngestTotals()
    for batch in ndjson_batches(file, batch_size, datetime.now(UTC)):
        result = services.ingest(batch)
        totals.add(result.received, result.landed, result.quarantined, result.reasons)
    summary = {**asdict(totals), "lake": state.settings.lake_url}
    if as_json:
        print(json.dumps(summary))
    else:
        console.print(summary)


@app.command("ingest-batch")
def ingest_batch_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="A CSV export (plain, gzip, bzip2 or "
                                              "zstd).")],
    mapping: Annotated[str, typer.Option(
        help="A built-in mapping name (see docs/batch-mappings.md) or the path of a "
             "mapping .toml file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Upload an export to raw/batch/<mapping>/ and land it, as the blob trigger does.

    Exit status 1 when the file is rejected whole (e.g. required columns missing).
    """
    from shared.batch.ingest import upload_file
    from shared.batch.mapping import load_mapping
    from shared.lake import Lake

    result = upload_file(Lake.from_settings(state.settings), file, load_mapping(mapping))
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        console.print(result.to_json())
    if result.status == "rejected":
        _print_error("rejected", result.error)
        raise typer.Exit(1)


@app.command()
def refresh(
    full: Annotated[bool, typer.Option("--full", help="Rebuild every table from scratch.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Rebuild processed/ and curated/ where the raw zone changed since the last refresh."""
    from shared.lake import Lake
    from shared.warehouse.refresh import refresh as run_refresh

    lake = Lake.from_settings(state.settings)
    with console.status("refreshing") as status:
        result = run_refresh(lake, full=full, progress=status.update)
    if as_json:
        print(json.dumps(result.to_json()))
        return
    for table in result.tables:
        detail = f"{table.partitions} partition(s)" if table.action == "partitions" else ""
        console.print(f"{table.table:32} {table.action:10} {detail}")
    console.print(f"{'full' if result.full else 'incremental'} refresh in {result.seconds:.1f} s")


@app.command()
def tables(
    check: Annotated[bool, typer.Option("--check", help="Also run each table's data tests "
                                        "and check its SQL is portable to Spark (exit "
                                        "status 1 if any fails).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """List the warehouse's tables, as their specs declare them, with their rows."""
    from dataclasses import asdict

    from shared.lake import Lake
    from shared.warehouse import CATALOG, run_data_tests, table_status

    lake = Lake.from_settings(state.settings)
    statuses = table_status(lake)
    results = run_data_tests(lake) if check else []
    failed = [result for result in results if not result.passed]
    unportable = ([line for lines in CATALOG.portability().values() for line in lines]
                  if check else [])
    if as_json:
        print(json.dumps({"tables": [asdict(status) for status in statuses],
                          **({"data_tests": [asdict(r) | {"passed": r.passed} for r in results],
                              "portability": unportable} if check else {})}))
    else:
        for status in statuses:
            rows = (f"damaged: {status.error}" if status.error else "not built"
                    if status.rows is None else f"{status.rows:,} rows")
            console.print(f"{status.name:30} {status.path:36} {status.step:10} "
                          f"{status.write:10} {rows}", soft_wrap=True)
        for result in failed:
            _print_error("data test failed", f"{result.table}: {result.test}: " + (
                result.error or f"{result.failing_rows} row(s)"))
        for line in unportable:
            _print_error("not portable to Spark", line)
        if check and not failed:
            console.print(f"{len(results)} data tests passed")
    if failed or unportable or any(status.error for status in statuses):
        raise typer.Exit(1)


@app.command()
def train(
    model: Annotated[ModelKind | None, typer.Option(
        "--model", help="Train this kind; default: the best candidate on the test split.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Train, evaluate and register a recommender; promote it if it is not worse."""
    from model.evaluate import NotEnoughHistoryError
    from model.interactions import NoPurchasesError
    from shoplake.demo import print_training
    from shoplake.services import Services

    services = Services(state.settings)
    try:
        with console.status("training") as status:
            result = services.retrain(datetime.now(UTC), kind=model, progress=status.update)
    except (NoPurchasesError, NotEnoughHistoryError) as error:
        _print_error("cannot train", error)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result.to_json(), default=str))
        return
    print_training(Console(), result)


@app.command()
def recommend(
    customer_id: Annotated[str, typer.Argument(help="Customer id as in the order exports.")],
    k: Annotated[int, typer.Option(min=1, max=100, help="Products per list.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
) -> None:
    """Recommendations for a customer, from the champion model (as the API answers)."""
    from dataclasses import asdict

    from model.serving import NoModelError
    from shoplake.demo import print_recommendations
    from shoplake.services import Services

    try:
        answer = Services(state.settings).recommender.for_customer(customer_id, k)
    except NoModelError as error:
        _print_error("no recommendations", error)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(asdict(answer)))
        return
    print_recommendations(Console(), customer_id, answer)


@app.command()
def nightly(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """The nightly orchestration's steps, embedded: refresh, forecast, value customers,
    train, promote, score, warm."""
    from dataclasses import asdict

    from durable.embedded import run_nightly
    from durable.starter import nightly_input
    from shoplake.demo import print_nightly
    from shoplake.services import Services

    services = Services(state.settings)
    with console.status("nightly run") as status:
        def progress(step: str) -> None:
            status.update(f"nightly run: {step}")
            console.print(f"  {step}", highlight=False)

        summary = run_nightly(services, nightly_input(state.settings, datetime.now(UTC)),
                              progress=progress)
    if as_json:
        print(json.dumps(asdict(summary)))
    else:
        print_nightly(Console(), summary)
    if not summary.ok:
        raise typer.Exit(1)


@app.command()
def forecast(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Forecast revenue and units and predict customer value (the nightly run's steps)."""
    from dataclasses import asdict

    from shoplake.demo import print_at_risk, print_forecasts
    from shoplake.services import Services

    services = Services(state.settings)
    with console.status("forecasting revenue and units, valuing customers"):
        forecasts, values = services.forecast(datetime.now(UTC))
    if as_json:
        print(json.dumps({"forecasts": asdict(forecasts), "customer_value": asdict(values)}))
    else:
        out = Console()
        for label, skipped in (("forecasts", forecasts.skipped), ("customer value",
                                                                 values.skipped)):
            if skipped:
                _print_error(f"no {label}", skipped)
        if forecasts.version:
            print_forecasts(out, services.predictions)
        if values.version:
            print_at_risk(out, services.predictions)
    if forecasts.skipped and values.skipped:
        raise typer.Exit(1)


@app.command()
def dashboard(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path(
        "out/dashboard.html"),
) -> None:
    """Write the KPI dashboard as one self-contained HTML file (it works offline).

    It holds the answers for the periods it lists and every category; `shoplake serve`
    then /api/dashboard serves it live, for any range and any customer's recommendations.
    """
    from shoplake.dashboard import DashboardAssetsMissing, write_dashboard
    from shoplake.services import Services

    services = Services(state.settings)
    try:
        path = write_dashboard(out, services.kpis, services.recommender)
    except (DashboardAssetsMissing, OSError) as error:
        _print_error("cannot write the dashboard", error)
        raise typer.Exit(1) from None
    console.print(f"dashboard: {path.resolve()}")


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Run the HTTP API locally with uvicorn (the same app the Function serves)."""
    import uvicorn

    from shoplake.api import create_app
    from shoplake.services import Services

    uvicorn.run(create_app(Services(state.settings)), host=host, port=port)


@app.command()
def schema(
    write: Annotated[bool, typer.Option(help="Rewrite shared/events/event.schema.json.")] = False,
) -> None:
    """Print the event contract as JSON Schema."""
    from shared.events import contract

    text = contract.json_schema_text()
    if write:
        target = Path(contract.__file__).with_name("event.schema.json")
        target.write_text(text, encoding="utf-8")
        console.print(f"wrote {target}")
    else:
        sys.stdout.write(text)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a YYYY-MM-DD date") from None


def main() -> None:
    """Entry point: configuration mistakes are reported in one line, not a traceback."""
    from pydantic import ValidationError

    from shared.lake import StaleWriteError
    from shared.lease import LakeBusyError, LeaseLostError
    from shared.settings import ConfigurationError

    try:
        app()
    except (ConfigurationError, ValidationError) as error:
        _print_error("configuration error", _configuration_message(error))
        sys.exit(2)
    except LakeBusyError as error:
        _print_error("lake busy", error)
        sys.exit(EXIT_BUSY)
    except (LeaseLostError, StaleWriteError) as error:
        # Another run took the lake over: this one stopped before its results could
        # overwrite newer ones.
        _print_error("stopped", error)
        sys.exit(1)
