"""The `shoplake` command line, in process and as the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.events.contract import json_schema
from shared.events.raw import raw_events
from shared.lake import Lake
from shared.lease import LeaseRecord, lease_path
from shoplake.cli import app, main
from tests.support.azurite import free_port, wait_for_port
from tests.support.cli import SHOPLAKE_COMMAND

runner = CliRunner()


def test_schema_prints_the_contract() -> None:
    result = runner.invoke(app, ["schema"])

    assert result.exit_code == 0
    assert json.loads(result.stdout) == json_schema()



def test_python_m_shoplake_runs_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "shoplake", "schema"], capture_output=True,
                          text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json_schema()

def test_ingest_events_lands_a_file_idempotently(tmp_path: Path,
                                                 shop_bodies: list[bytes]) -> None:
    events = tmp_path / "events.ndjson"
    events.write_bytes(b"\n".join([*shop_bodies[:250], b"{broken", b""]) + b"\n")
    lake = tmp_path / "lake"

    runs = [runner.invoke(app, ["--lake", str(lake), "ingest-events", str(events),
                                "--batch-size", "100", "--json"]) for _ in range(2)]

    assert [r.exit_code for r in runs] == [0, 0]
    summary = json.loads(runs[0].stdout)
    assert summary | {"lake": None} == {"batches": 3, "received": 251, "landed": 250,
                                        "quarantined": 1, "reasons": {"bad_json": 1},
                                        "lake": None}
    assert raw_events(Lake.open(str(lake))).count_rows() == 250


ORDERS_CSV = (b"\xef\xbb\xbfInvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
              b"CustomerID,Country\r\n"
              b'536365,85123A,"HEART, WHITE",6,12/1/10 8:26,2.55,17850,United Kingdom\r\n'
              b"536365,71053,LANTERN,six,12/1/10 8:26,3.39,17850,United Kingdom\r\n"
              b"C536379,D,Discount,-1,12/1/10 9:41,27.50,14527,United Kingdom\r\n")

# Ten days of orders: the frame (22728) has the most buyers; 17850 bought the lantern twice.
TRAINING_ORDERS_CSV = (
    b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    b"536365,85123A,MUG,6,12/1/10 8:26,2.55,17850,United Kingdom\n"
    b"536365,71053,LANTERN,6,12/1/10 8:26,3.39,17850,United Kingdom\n"
    b"536401,22728,FRAME,2,12/2/10 10:00,4.95,13047,United Kingdom\n"
    b"536401,85123A,MUG,1,12/2/10 10:00,2.55,13047,United Kingdom\n"
    b"536420,22728,FRAME,1,12/3/10 11:00,4.95,15100,United Kingdom\n"
    b"536460,71053,LANTERN,2,12/5/10 9:00,3.39,17850,United Kingdom\n"
    b"536520,22728,FRAME,1,12/9/10 12:00,4.95,12583,France\n"
    b"536530,71053,LANTERN,1,12/10/10 12:00,3.39,13047,United Kingdom\n")


def test_ingest_batch_prints_counts_and_a_second_upload_is_a_no_op(tmp_path: Path) -> None:
    export = tmp_path / "orders.csv"
    export.write_bytes(ORDERS_CSV)
    lake = tmp_path / "lake"

    runs = [runner.invoke(app, ["--lake", str(lake), "ingest-batch", str(export),
                                "--mapping", "online_retail", "--json"]) for _ in range(2)]

    assert [r.exit_code for r in runs] == [0, 0]
    first, second = (json.loads(r.stdout) for r in runs)
    assert (first["received"], first["landed"], first["quarantined"]) == (3, 2, 1)
    assert first["reasons"] == {"bad_number": 1} and first["status"] == "landed"
    assert second["status"] == "duplicate" and second["landed"] == 2
    assert (lake / "raw" / "batch" / "online_retail" / "orders.csv").read_bytes() == ORDERS_CSV


def test_ingest_batch_rejects_a_file_without_the_mapped_columns(tmp_path: Path) -> None:
    export = tmp_path / "orders.csv"
    export.write_bytes(b"InvoiceNo,Quantity\n536365,6\n536366,1\n")

    result = runner.invoke(app, ["--lake", str(tmp_path / "lake"), "ingest-batch", str(export),
                                 "--mapping", "online_retail", "--json"])

    assert result.exit_code == 1
    summary = json.loads(result.stdout.splitlines()[0])
    assert (summary["status"], summary["received"], summary["quarantined"]) == ("rejected", 2, 2)
    assert "StockCode" in summary["error"] and "InvoiceDate" in summary["error"]


def test_ingest_batch_names_an_unknown_mapping(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path, capsys) -> None:
    export = tmp_path / "orders.csv"
    export.write_bytes(ORDERS_CSV)
    monkeypatch.setattr("sys.argv", ["shoplake", "--lake", str(tmp_path / "lake"),
                                     "ingest-batch", str(export), "--mapping", "acme"])

    with pytest.raises(SystemExit) as exit_info:
        main()

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "acme" in error and "online_retail" in error and "Traceback" not in error


def test_refresh_builds_the_star_schema_and_reports_json(tmp_path: Path) -> None:
    export = tmp_path / "orders.csv"
    export.write_bytes(ORDERS_CSV)
    lake = str(tmp_path / "lake")
    runner.invoke(app, ["--lake", lake, "ingest-batch", str(export), "--mapping", "online_retail"])

    first = runner.invoke(app, ["--lake", lake, "refresh", "--json"])
    again = runner.invoke(app, ["--lake", lake, "refresh", "--json"])

    assert (first.exit_code, again.exit_code) == (0, 0)
    tables = json.loads(first.stdout)["tables"]
    assert tables["fact_sales"] == {"action": "partitions", "partitions": 1,
                                    "seconds": tables["fact_sales"]["seconds"]}
    assert {t["action"] for t in json.loads(again.stdout)["tables"].values()} == {"unchanged"}


def test_tables_lists_the_catalog_and_runs_its_data_tests(tmp_path: Path) -> None:
    export = tmp_path / "orders.csv"
    export.write_bytes(ORDERS_CSV)
    lake = str(tmp_path / "lake")
    empty = runner.invoke(app, ["--lake", lake, "tables", "--check", "--json"])
    runner.invoke(app, ["--lake", lake, "ingest-batch", str(export), "--mapping", "online_retail"])
    runner.invoke(app, ["--lake", lake, "refresh"])

    listed = runner.invoke(app, ["--lake", lake, "tables", "--check", "--json"])

    assert (empty.exit_code, listed.exit_code) == (1, 0)
    assert {r["test"] for r in json.loads(empty.stdout)["data_tests"]} == {"built"}
    tables = {t["name"]: t for t in json.loads(listed.stdout)["tables"]}
    assert tables["fact_sales"]["path"] == "curated/fact_sales"
    assert tables["fact_sales"]["rows"] == 2  # the lantern line, "six", is quarantined
    assert all(r["passed"] for r in json.loads(listed.stdout)["data_tests"])


def test_tables_names_a_damaged_table_in_one_line_and_lists_the_others(tmp_path: Path) -> None:
    export = tmp_path / "orders.csv"
    export.write_bytes(ORDERS_CSV)
    lake = str(tmp_path / "lake")
    runner.invoke(app, ["--lake", lake, "ingest-batch", str(export), "--mapping", "online_retail"])
    runner.invoke(app, ["--lake", lake, "refresh"])
    for data in (tmp_path / "lake" / "curated" / "fact_sales").rglob("*.parquet"):
        data.unlink()

    listed = runner.invoke(app, ["--lake", lake, "tables"])
    checked = runner.invoke(app, ["--lake", lake, "tables", "--check"])

    assert (listed.exit_code, checked.exit_code) == (0, 1)
    assert "Traceback" not in checked.output
    damaged = [line for line in checked.output.splitlines() if "fact_sales" in line]
    assert any("data test failed: fact_sales: readable:" in line for line in damaged), damaged
    assert "kpi_top_products" in checked.output


def test_train_and_recommend(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    nothing = runner.invoke(app, ["--lake", lake, "train"])
    export = tmp_path / "orders.csv"
    export.write_bytes(TRAINING_ORDERS_CSV)
    runner.invoke(app, ["--lake", lake, "ingest-batch", str(export), "--mapping", "online_retail"])
    runner.invoke(app, ["--lake", lake, "refresh"])

    trained = runner.invoke(app, ["--lake", lake, "train", "--model", "popularity", "--json"])
    recommended = runner.invoke(app, ["--lake", lake, "recommend", "17850", "--k", "1", "--json"])
    unknown = runner.invoke(app, ["--lake", lake, "recommend", "nobody", "--k", "2"])

    assert nothing.exit_code == 1 and "shoplake refresh" in nothing.stderr
    assert trained.exit_code == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["kind"] == "popularity" and summary["decision"]["promoted"] is True
    assert summary["scored"]["customers"] == 4
    answer = json.loads(recommended.stdout)
    assert answer["model_version"] == summary["version"] and answer["source"] == "personal"
    # 17850 bought the mug and the lantern; the most popular product left is the frame
    assert [p["product_id"] for p in answer["new_for_you"]] == ["22728"]
    assert [p["product_id"] for p in answer["buy_again"]] == ["71053"]
    assert unknown.exit_code == 0 and "popular recommendations" in unknown.stdout


def test_recommend_without_a_model_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--lake", str(tmp_path / "lake"), "recommend", "C1"])

    assert result.exit_code == 1 and "shoplake train" in result.stderr


def test_lake_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             shop_bodies: list[bytes]) -> None:
    events = tmp_path / "events.ndjson"
    events.write_bytes(shop_bodies[0])
    monkeypatch.setenv("LAKE_URL", str(tmp_path / "envlake"))

    result = runner.invoke(app, ["ingest-events", str(events), "--json"])

    assert json.loads(result.stdout)["lake"] == str(tmp_path / "envlake")


def test_simulate_writes_the_exports(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--days", "2",
                                 "--sessions-per-day", "30", "--products", "40",
                                 "--customers", "50"])

    assert result.exit_code == 0, result.output
    assert {p.name for p in tmp_path.iterdir()} == {"products.csv", "customers.csv",
                                                    "orders.csv", "events.ndjson"}


def test_configuration_errors_are_one_line_not_a_traceback(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    events = tmp_path / "e.ndjson"
    events.write_text("{}")
    monkeypatch.setattr("sys.argv", ["shoplake", "--lake", "az://nocreds/x", "ingest-events",
                                     str(events)])

    with pytest.raises(SystemExit) as exit_info:
        main()

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "LAKE_STORAGE_CONNECTION_STRING" in error and "Traceback" not in error


UNUSABLE_LAKES = {
    "s3://x": "unsupported lake URL 's3://x': use a local folder, az://container/path or "
              "abfss://container@account.dfs.core.windows.net/path",
    "az://": "lake URL 'az://' names no container (az://container/path)",
    "az://lake/x": "an az:// lake needs LAKE_STORAGE_CONNECTION_STRING",
    "": "LAKE_URL must not be empty",
    " ": "LAKE_URL must not be empty",
    "abfss://bad": "lake URL 'abfss://bad' must look like "
                   "abfss://container@account.dfs.core.windows.net/path",
}


@pytest.mark.parametrize("lake", UNUSABLE_LAKES)
def test_an_unusable_lake_is_a_one_line_usage_error_for_every_command(
        lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where the default lake would be, were "" taken for unset
    monkeypatch.delenv("LAKE_STORAGE_CONNECTION_STRING", raising=False)
    export = tmp_path / "products.csv"
    export.write_bytes(b"product_id\nP1\n")
    commands = [["refresh"], ["refresh", "--json"], ["train"], ["recommend", "C1"],
                ["nightly"], ["forecast"], ["schema"], ["ingest-events", str(export)],
                ["ingest-batch", str(export), "--mapping", "shop_products", "--json"],
                ["simulate", "--out", str(tmp_path / "out"), "--days", "1",
                 "--sessions-per-day", "10", "--products", "30", "--customers", "10"]]

    for command in commands:
        result = runner.invoke(app, ["--lake", lake, *command])

        assert result.exit_code == 2, (command, result.output, result.exception)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1, (command, result.stderr)
        assert UNUSABLE_LAKES[lake] in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["products.csv"]


def test_error_messages_keep_their_brackets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys) -> None:
    """Printed as they are, not as rich markup (which ate "[columns]")."""
    mapping = tmp_path / "acme.toml"
    mapping.write_text('dataset = "products"\n[columns]\nname = "n"\n')
    export = tmp_path / "products.csv"
    export.write_bytes(b"[sku],name\nP1,Mug\n")
    lake = str(tmp_path / "lake")
    monkeypatch.setattr("sys.argv", ["shoplake", "--lake", lake, "ingest-batch", str(export),
                                     "--mapping", str(mapping)])

    with pytest.raises(SystemExit) as exit_info:
        main()
    rejected = runner.invoke(app, ["--lake", lake, "ingest-batch", str(export), "--mapping",
                                   "shop_products", "--json"])

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "product_id is required by products: map it in [columns] or give it a value in " \
           "[defaults]" in error
    assert rejected.exit_code == 1
    assert "rejected: products.csv lacks required columns: product_id (found: [sku], name)\n" \
           in rejected.stderr


def test_ingest_batch_refuses_a_mapping_file_that_cannot_name_a_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    mapping = tmp_path / "...toml"  # a mapping named "..": its uploads went to raw/
    mapping.write_text('dataset = "products"\n[columns]\nproduct_id = "product_id"\n')
    export = tmp_path / "products.csv"
    export.write_bytes(b"product_id\nP1\n")
    lake = tmp_path / "lake"
    monkeypatch.setattr("sys.argv", ["shoplake", "--lake", str(lake), "ingest-batch",
                                     str(export), "--mapping", str(mapping)])

    with pytest.raises(SystemExit) as exit_info:
        main()

    assert exit_info.value.code == 2
    assert "'..' cannot name a mapping" in capsys.readouterr().err
    assert not (lake / "raw").exists()


def test_sending_to_eventhub_without_configuration_says_what_to_set(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.delenv("EVENTHUB_CONNECTION", raising=False)
    monkeypatch.setattr("sys.argv", ["shoplake", "simulate", "--out", str(tmp_path), "--days",
                                     "1", "--sessions-per-day", "10", "--to", "eventhub"])

    with pytest.raises(SystemExit):
        main()

    assert "EVENTHUB_CONNECTION" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_end_to_end_as_the_installed_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [*SHOPLAKE_COMMAND, "demo", "--days", "3", "--sessions-per-day", "150"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "COLUMNS": "120"},
    )

    assert done.returncode == 0, done.stderr
    assert "received = landed + quarantined │ yes" in done.stderr
    assert "raw zone byte-identical" in done.stderr
    assert "duplicates in raw               │ 0" in done.stderr
    assert "same file uploaded again │ duplicate" in done.stderr
    assert "revenue by category" in done.stderr and "conversion funnel" in done.stderr
    assert "nightly run" in done.stderr and "partitions refreshed │ 3" in done.stderr
    assert "warm_serving" in done.stderr and "promoted             │ yes" in done.stderr
    assert "recommendations from" in done.stderr and "buy again" in done.stderr
    assert "forecast_demand → predict_customer_value" in done.stderr
    assert "revenue forecast for the weeks starting" in done.stderr
    assert (tmp_path / "lake" / "raw" / "events").is_dir()
    assert (tmp_path / "lake" / "curated" / "fact_sales" / "_delta_log").is_dir()
    assert len(list((tmp_path / "out").glob("orders-*.csv"))) == 3
    page = tmp_path / "out" / "dashboard.html"
    assert f"dashboard: {page}" in " ".join(done.stderr.split())
    assert '"snapshot":{"written_at"' in page.read_text()


def test_forecast_reports_json_and_a_lake_without_sales_exits_1(
        tmp_path: Path, kpi_lake_dir: Path) -> None:
    lake = str(tmp_path / "lake")
    shutil.copytree(kpi_lake_dir, lake)

    done = runner.invoke(app, ["--lake", lake, "forecast", "--json"])
    empty = runner.invoke(app, ["--lake", str(tmp_path / "empty"), "forecast"])

    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    forecasts, values = summary["forecasts"], summary["customer_value"]
    assert forecasts["version"] and forecasts["revenue_series"] >= 2
    assert forecasts["units_series"] == 0  # its eight days hold no whole week
    assert forecasts["skipped"] is None
    # Eight days of a small shop: too few customers bought twice to fit the models.
    assert values["version"] is None and "bought again" in values["skipped"]
    assert empty.exit_code == 1
    assert "no forecasts: no sales yet" in empty.stderr
    assert "Traceback" not in empty.output


@pytest.mark.slow
def test_serve_answers_over_real_http(tmp_path: Path, shop_bodies: list[bytes]) -> None:
    import urllib.request

    port = free_port()
    server = subprocess.Popen([*SHOPLAKE_COMMAND, "--lake", str(tmp_path / "lake"), "serve",
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, server, timeout_s=60)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/events", data=b"\n".join(shop_bodies[:3]),
            headers={"content-type": "application/x-ndjson"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
            assert json.loads(response.read())["landed"] == 3
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert raw_events(Lake.open(str(tmp_path / "lake"))).count_rows() == 3


@pytest.mark.parametrize("command", [["refresh"], ["train"], ["forecast"]])
def test_a_writer_while_another_run_holds_the_lake_exits_75_naming_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys, command: list[str]) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    # The nightly run, on another machine, holds the lake.
    holder = LeaseRecord("nightly-2026-12-03", "2026-12-03T02:00:00+00:00",
                         {"func-worker-7/312": time.time() + 60})
    lake.write_bytes_if(lease_path(lake), holder.to_json(), None)
    monkeypatch.setenv("LAKE_LEASE_WAIT_SECONDS", "0")
    monkeypatch.setattr("sys.argv", ["shoplake", "--lake", lake.url, *command])

    with pytest.raises(SystemExit) as exit_info:
        main()

    assert exit_info.value.code == 75
    error = capsys.readouterr().err
    assert error.startswith("lake busy: ") and error.count("\n") == 1
    assert ("run nightly-2026-12-03 (func-worker-7/312) since 2026-12-03T02:00:00+00:00"
            in error)
