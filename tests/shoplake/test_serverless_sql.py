"""The serverless SQL objects Power BI reads (infra/synapse/sql/, `shoplake synapse sql` and
`shoplake synapse pbids`): a view per curated Delta table of a real lake, with its columns'
names and types; the committed files as the catalog generates them; T-SQL that parses; the
dry run; and the batches sent in order by the real TDS driver to a loopback stand-in of the
serverless endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pyarrow as pa
import pytest
from azure.core.exceptions import ClientAuthenticationError
from sqlglot import exp

from model.retrain import retrain
from shared.lake import Lake, Zone
from shared.settings import ConfigurationError, Settings
from shared.synapse import SynapseError
from shoplake.serverless_deploy import (
    StaleSqlError,
    apply_plan,
    certificate_matches,
    curated_url,
    open_session,
    pbids,
    plan_sql,
    serverless_endpoint,
)
from shoplake.serverless_sql import (
    COLLATION,
    SQL_FOLDER,
    CuratedTable,
    UnsupportedColumnError,
    generate,
    stale_files,
    tsql_type,
    write_files,
)
from tests.model.conftest import FAST, TRAINED_AT, build_shop_lake
from tests.support.cli import run_main as run_shoplake
from tests.support.paths import ROOT
from tests.support.tds import CERTIFICATE_NAME, FakeServerless, fake_serverless
from tests.support.tsql import parse, view_columns

LAKE = "abfss://lake@stlake.dfs.core.windows.net/shoplake"
ENDPOINT = "https://synwabc.dev.azuresynapse.net"
SERVER = "synwabc-ondemand.sql.azuresynapse.net"
CURATED = "https://stlake.dfs.core.windows.net/lake/shoplake/curated"
# How each Arrow type of a Delta table reads in T-SQL, written out here independently of the
# generator (strings: VARCHAR with the UTF-8 collation, checked separately).
EXPECTED_TYPES = {
    pa.string(): "VARCHAR(8000)",
    pa.bool_(): "BIT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INT",
    pa.int64(): "BIGINT",
    pa.float32(): "REAL",
    pa.float64(): "FLOAT",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "DATETIME2(6)",
}
# Statements sqlglot knows only as commands (it parses them without a tree); nothing else
# may fall back to one.
COMMANDS = ("CREATE DATABASE SCOPED CREDENTIAL ", "CREATE EXTERNAL DATA SOURCE ",
            "DROP EXTERNAL DATA SOURCE ", "CREATE ROLE ", "GRANT ")


def expected_type(kind: pa.DataType) -> exp.DataType:
    if pa.types.is_decimal(kind):
        return exp.DataType.build(f"DECIMAL({kind.precision}, {kind.scale})", dialect="tsql")
    return exp.DataType.build(EXPECTED_TYPES[kind], dialect="tsql")


def committed() -> dict[str, list[str]]:
    """Each committed file's batches."""
    folder = ROOT / SQL_FOLDER
    return {path.name: [batch.strip() for batch in path.read_text().split("\nGO\n")
                        if batch.strip()] for path in sorted(folder.glob("*.sql"))}


def committed_views() -> dict[str, exp.Expression]:
    """The parsed CREATE VIEW of each view file, by the folder it reads."""
    views = {}
    for name, batches in committed().items():
        if name.startswith("04-view-"):
            [statement] = parse(batches[-1])
            views[view_columns(statement)[0]] = statement
    return views


@pytest.fixture(scope="module")
def scored_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """A shop refreshed into the star schema, a model trained and its customers scored: every
    curated table written by the code that writes it in production."""
    lake = Lake.open(str(build_shop_lake(tmp_path_factory.mktemp("serverless"))))
    retrain(lake, TRAINED_AT, config=FAST, tolerance=0.005, active_days=90)
    return lake


def curated_delta_tables(lake: Lake) -> dict[str, pa.Schema]:
    """The Delta tables of the lake's curated zone, as found there, and their schemas."""
    zone = Path(lake.url) / Zone.CURATED.value
    return {folder.name: pa.schema(lake.table(Zone.CURATED, folder.name).schema().to_arrow())
            for folder in sorted(zone.iterdir()) if (folder / "_delta_log").is_dir()}


# -- the views and the Delta tables ---------------------------------------------------------


def test_every_curated_delta_table_has_a_view(scored_lake: Lake) -> None:
    tables = curated_delta_tables(scored_lake)

    assert "customer_recommendations" in tables
    assert sorted(committed_views()) == sorted(tables)


def test_each_view_reads_its_table_with_the_columns_of_its_delta_schema(
        scored_lake: Lake) -> None:
    views = committed_views()
    for folder, schema in curated_delta_tables(scored_lake).items():
        _, options, columns = view_columns(views[folder])

        assert options == {"DATA_SOURCE": "shoplake_curated", "FORMAT": "DELTA"}, folder
        assert [name for name, _, _ in columns] == schema.names, folder
        assert [kind for _, kind, _ in columns] == [
            expected_type(field.type) for field in schema], folder
        assert [collation for _, kind, collation in columns] == [
            COLLATION if pa.types.is_string(field.type) else None for field in schema], folder


def test_serverless_sql_can_read_every_curated_table(scored_lake: Lake) -> None:
    """Serverless SQL reads Delta reader version 1 without table features (no deletion
    vectors, no timestamp_ntz, no column mapping)."""
    for folder in curated_delta_tables(scored_lake):
        protocol = scored_lake.table(Zone.CURATED, folder).protocol()

        assert (protocol.min_reader_version, protocol.reader_features) == (1, None), folder


def test_a_partition_column_is_a_column_of_the_view() -> None:
    [fact_sales] = [table for table in _tables() if table.name == "fact_sales"]
    _, _, columns = view_columns(committed_views()["fact_sales"])

    assert fact_sales.partition_by == "order_date"
    assert ("order_date", exp.DataType.build("DATE", dialect="tsql"), None) in columns


def _tables() -> list[CuratedTable]:
    from shoplake.serverless_sql import curated_tables

    return curated_tables()


# -- the files ------------------------------------------------------------------------------


def test_the_committed_files_are_what_the_catalog_generates() -> None:
    stale = stale_files(ROOT / SQL_FOLDER, generate())

    assert stale == [], (f"{SQL_FOLDER}/ is stale ({'; '.join(stale)}): run "
                         "`shoplake synapse sql --write` and commit the files")


def test_a_new_curated_table_makes_the_files_stale_until_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / SQL_FOLDER
    write_files(folder, generate())
    extra = CuratedTable("kpi_new", "kpi_new", pa.schema([("day", pa.date32())]), None,
                         "shared/warehouse/tables/kpi_new.toml")
    files = generate([*_tables(), extra])
    monkeypatch.setattr("shoplake.serverless_deploy.generate", lambda: files)

    assert stale_files(folder, files) == ["04-view-kpi_new.sql is missing"]
    with pytest.raises(StaleSqlError, match=r"04-view-kpi_new.sql is missing\): run "
                                            r"`shoplake synapse sql --write`"):
        plan_sql(settings(), tmp_path)

    report = write_files(folder, files)

    assert (report.written, report.removed) == (("04-view-kpi_new.sql",), ())
    assert len(report.unchanged) == len(files) - 1
    assert "kpi_new" in plan_sql(settings(), tmp_path).views


def test_writing_removes_the_view_of_a_table_that_is_gone(tmp_path: Path) -> None:
    write_files(tmp_path, generate())
    (tmp_path / "04-view-kpi_old.sql").write_text("CREATE VIEW dbo.kpi_old AS SELECT 1;\n")
    (tmp_path / "02-data-source.sql").write_text("edited by hand\n")

    assert stale_files(tmp_path, generate()) == ["02-data-source.sql is out of date",
                                                 "04-view-kpi_old.sql is not generated"]
    report = write_files(tmp_path, generate())

    assert (report.written, report.removed) == (("02-data-source.sql",), ("04-view-kpi_old.sql",))
    assert stale_files(tmp_path, generate()) == []


def test_every_batch_parses_as_t_sql() -> None:
    for name, batches in committed().items():
        for batch in batches:
            statements = parse(batch)  # raises on a syntax error
            commands = [command.sql(dialect="tsql") for statement in statements
                        for command in statement.find_all(exp.Command)]

            assert statements, (name, batch)
            assert all(command.startswith(COMMANDS) for command in commands), (name, commands)


def test_a_view_is_created_alone_in_its_batch_after_use() -> None:
    for name, batches in committed().items():
        if not name.startswith("04-view-"):
            continue
        use, view = (parse(batch) for batch in batches)

        assert [type(statement) for statement in use] == [exp.Use], name
        assert use[0].this.name == "shoplake"
        [create] = view
        assert isinstance(create, exp.Create) and create.args["kind"] == "VIEW", name
        assert create.args.get("replace"), f"{name}: CREATE OR ALTER, so applying again works"
        assert create.this.sql() == f"dbo.{name.removeprefix('04-view-').removesuffix('.sql')}"


def test_the_database_and_the_data_source_are_created_only_when_missing() -> None:
    files = committed()
    [database] = files["01-database.sql"]
    data_source = files["02-data-source.sql"]

    assert database.endswith("IF DB_ID(N'shoplake') IS NULL\n"
                             f"    CREATE DATABASE shoplake COLLATE {COLLATION};")
    assert [batch.splitlines()[0] for batch in data_source[1:]] == [
        "IF NOT EXISTS (SELECT 1 FROM sys.symmetric_keys WHERE name = '##MS_DatabaseMasterKey##')",
        "IF NOT EXISTS (SELECT 1 FROM sys.database_scoped_credentials WHERE name = "
        "'WorkspaceIdentity')",
        "-- Another lake (LAKE_URL changed): the data source is created anew.",
        "IF NOT EXISTS (SELECT 1 FROM sys.external_data_sources WHERE name = 'shoplake_curated')",
    ]
    assert "WITH IDENTITY = 'Managed Identity'" in data_source[2]
    assert "${LAKE_CURATED_URL}" in data_source[4]


@pytest.mark.parametrize(("kind", "expected"), [
    (pa.int8(), "SMALLINT"), (pa.uint8(), "TINYINT"), (pa.uint16(), "INT"),
    (pa.uint32(), "BIGINT"), (pa.uint64(), "DECIMAL(20, 0)"),
    (pa.large_string(), f"VARCHAR(8000) COLLATE {COLLATION}"),
    (pa.dictionary(pa.int32(), pa.string()), f"VARCHAR(8000) COLLATE {COLLATION}"),
    (pa.decimal128(38, 10), "DECIMAL(38, 10)"), (pa.binary(), "VARBINARY(8000)"),
    (pa.timestamp("ms", tz="Europe/Paris"), "DATETIME2(3)"),
])
def test_other_arrow_types_map_to_t_sql(kind: pa.DataType, expected: str) -> None:
    assert tsql_type(pa.field("c", kind)) == expected


@pytest.mark.parametrize(("kind", "reason"), [
    (pa.timestamp("us"), "timestamp_ntz"), (pa.list_(pa.int32()), "no type for it"),
    (pa.decimal256(50, 2), "no type for it"),
])
def test_a_column_serverless_sql_cannot_read_is_refused(kind: pa.DataType, reason: str) -> None:
    with pytest.raises(UnsupportedColumnError, match=rf"column 'c' \(.*\): .*{reason}"):
        tsql_type(pa.field("c", kind))


# -- settings -------------------------------------------------------------------------------


def settings(**values: str) -> Settings:
    return Settings(**{"lake_url": LAKE, "synapse_endpoint": ENDPOINT, **values})


@pytest.mark.parametrize(("endpoint", "server"), [
    (ENDPOINT, SERVER), (ENDPOINT + "/", SERVER),
    ("https://synwabc.dev.azuresynapse.azure.cn", "synwabc-ondemand.sql.azuresynapse.azure.cn"),
])
def test_the_serverless_endpoint_is_named_after_the_workspace(endpoint: str, server: str) -> None:
    assert serverless_endpoint(endpoint) == server


@pytest.mark.parametrize("endpoint", [None, "", "http://synwabc.dev.azuresynapse.net",
                                      "https://synwabc.sql.azuresynapse.net",
                                      "https://synwabc.dev.azuresynapse.net/x"])
def test_an_endpoint_that_names_no_workspace_is_a_configuration_error(
        endpoint: str | None) -> None:
    with pytest.raises(ConfigurationError, match="SYNAPSE_ENDPOINT"):
        serverless_endpoint(endpoint)


def test_the_data_source_is_the_lake_s_curated_zone_over_https() -> None:
    assert curated_url(LAKE) == CURATED
    assert curated_url("abfss://lake@stlake.dfs.core.windows.net") == (
        "https://stlake.dfs.core.windows.net/lake/curated")
    with pytest.raises(ConfigurationError, match="LAKE_URL 'lake' must look like abfss://"):
        curated_url("lake")


# -- the plan and the dry run -----------------------------------------------------------


def test_the_plan_fills_in_the_lake_and_keeps_the_files_order() -> None:
    plan = plan_sql(settings())
    sent = [batch for script in plan.scripts for batch in script.batches]

    assert [script.name for script in plan.scripts] == list(committed())
    assert sent == [batch.replace("${LAKE_CURATED_URL}", CURATED)
                    for batches in committed().values() for batch in batches]
    assert plan.views == sorted(table.name for table in _tables())
    assert not any("${" in batch for batch in sent)


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *arguments: str,
             **environment: str) -> tuple[int | str | None, str, str]:
    """`shoplake synapse ARGUMENTS` in this process: (exit code, stdout, stderr)."""
    return run_shoplake(monkeypatch, capsys, ["synapse", *arguments],
                        {"LAKE_URL": LAKE, "SYNAPSE_ENDPOINT": ENDPOINT, **environment})


def test_the_dry_run_prints_the_statements_with_the_settings_filled_in(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr("shoplake.serverless_deploy.open_sql_session", _no_connection)
    code, out, err = run_main(monkeypatch, capsys, "sql", "--dry-run")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (f"-- dry run: nothing sent; on {SERVER} (connected to master), "
                        "in this order:")
    assert lines[1] == "-- 01-database.sql"
    assert out.count("\nGO\n") == sum(len(batches) for batches in committed().values())
    assert f"WITH (LOCATION = N'{CURATED}', CREDENTIAL = WorkspaceIdentity);" in out
    assert "CREATE OR ALTER VIEW dbo.customer_recommendations AS" in out
    assert "${" not in out


def test_the_dry_run_as_json_is_the_plan(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr("shoplake.serverless_deploy.open_sql_session", _no_connection)
    code, out, _ = run_main(monkeypatch, capsys, "sql", "--dry-run", "--json")

    assert code == 0
    assert json.loads(out) == {"dry_run": True, **plan_sql(settings()).describe()}


def _no_connection(*_: object) -> None:
    raise AssertionError("a dry run contacts nothing")


def test_without_synapse_the_command_says_what_to_set(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_main(monkeypatch, capsys, "sql", "--dry-run", SYNAPSE_ENDPOINT="")

    assert (code, out) == (2, "")
    assert err.startswith("configuration error: SYNAPSE_ENDPOINT is not set")


def test_write_and_dry_run_do_not_go_together(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_main(monkeypatch, capsys, "sql", "--write", "--dry-run")

    assert code == 2
    assert "--write and --dry-run do not go together" in err


def test_write_on_a_fresh_checkout_changes_nothing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run_main(monkeypatch, capsys, "sql", "--write", "--json")

    assert code == 0
    assert json.loads(out) == {"folder": SQL_FOLDER, "written": [], "removed": [],
                               "unchanged": list(committed())}


# -- applying -------------------------------------------------------------------------------


class RecordingSession:
    def __init__(self, refuse: str | None = None) -> None:
        self.batches: list[str] = []
        self.refuse = refuse

    def execute(self, batch: str) -> None:
        if self.refuse and self.refuse in batch:
            raise SynapseError("Msg 15151: Cannot find the login")
        self.batches.append(batch)


def test_applying_sends_every_batch_in_order() -> None:
    plan = plan_sql(settings())
    session = RecordingSession()
    lines: list[str] = []

    report = apply_plan(plan, session, lines.append)

    assert session.batches == [batch for script in plan.scripts for batch in script.batches]
    assert lines[:3] == ["applied 01-database.sql (1 batches)",
                         "applied 02-data-source.sql (5 batches)",
                         "applied 03-readers.sql (3 batches)"]
    assert report.views == tuple(plan.views)


def test_applying_stops_at_the_first_refusal_and_names_it() -> None:
    plan = plan_sql(settings())
    session = RecordingSession(refuse="CREATE ROLE")

    with pytest.raises(SynapseError) as error:
        apply_plan(plan, session)

    assert str(error.value) == (
        "03-readers.sql, batch 2 (IF DATABASE_PRINCIPAL_ID(N'shoplake_readers') IS NULL): "
        "Msg 15151: Cannot find the login")
    assert len(session.batches) == 1 + 5 + 1


@pytest.fixture
def serverless(tmp_path: Path) -> Iterator[FakeServerless]:
    with fake_serverless(tmp_path) as server:
        yield server


def test_the_driver_signs_in_with_the_token_and_sends_the_batches_over_tls(
        serverless: FakeServerless) -> None:
    plan = plan_sql(settings())
    tokens = iter(["token-1"])

    with closing(open_session(SERVER, lambda: next(tokens), cafile=str(serverless.cafile),
                              address=("127.0.0.1", serverless.port), login_timeout=10)
                 ) as session:
        apply_plan(plan, session)

    [login] = serverless.logins
    assert (login.server_name, login.database, login.app_name, login.token) == (
        SERVER, "master", "shoplake", "token-1")
    assert serverless.batches == [batch for script in plan.scripts for batch in script.batches]


def test_a_batch_the_server_refuses_fails_with_its_message(serverless: FakeServerless) -> None:
    serverless.refuse["CREATE EXTERNAL DATA SOURCE"] = (
        "External data source location 'https://x' is not valid.")
    plan = plan_sql(settings())

    with (closing(open_session(SERVER, lambda: "token", cafile=str(serverless.cafile),
                               address=("127.0.0.1", serverless.port), login_timeout=10)
                  ) as session,
          pytest.raises(SynapseError) as error):
        apply_plan(plan, session)

    assert str(error.value) == (
        "02-data-source.sql, batch 5 (IF NOT EXISTS (SELECT 1 FROM sys.external_data_sources "
        f"WHERE name = 'shoplake_curated')): {SERVER} refused it: External data source "
        "location 'https://x' is not valid.")
    assert len(serverless.batches) == 1 + 5


def test_the_command_applies_the_plan_and_reports_the_views(
        serverless: FakeServerless, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """`shoplake synapse sql` end to end, but for the sign-in: a fixed token instead of
    DefaultAzureCredential, the stand-in's CA and address."""
    monkeypatch.setattr("shoplake.serverless_deploy.open_sql_session", lambda _, server: (
        open_session(server, lambda: "token", cafile=str(serverless.cafile),
                     address=("127.0.0.1", serverless.port), login_timeout=10)))
    plan = plan_sql(settings())

    code, out, err = run_main(monkeypatch, capsys, "sql")

    assert (code, err) == (0, "")
    assert out.splitlines() == [
        *(f"applied {script.name} ({len(script.batches)} batches)" for script in plan.scripts),
        f"database shoplake on {SERVER}: {len(plan.views)} views ({', '.join(plan.views)})"]
    assert serverless.batches == [batch for script in plan.scripts for batch in script.batches]

    serverless.refuse["CREATE DATABASE"] = "CREATE DATABASE permission denied in database 'master'."
    code, out, err = run_main(monkeypatch, capsys, "sql", "--json")

    assert (code, out) == (1, "")
    assert err == (f"synapse sql failed: 01-database.sql, batch 1 (IF DB_ID(N'shoplake') IS "
                   f"NULL): {SERVER} refused it: CREATE DATABASE permission denied in database "
                   "'master'.\n")


def test_without_a_token_the_sign_in_fails_in_one_line(serverless: FakeServerless) -> None:
    def no_token() -> str:
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    with pytest.raises(SynapseError, match=rf"^signing in to {SERVER} failed: "
                                           "DefaultAzureCredential failed to retrieve a token$"):
        open_session(SERVER, no_token, cafile=str(serverless.cafile),
                     address=("127.0.0.1", serverless.port), login_timeout=10)
    assert serverless.logins == []


def test_a_certificate_for_another_host_is_refused(serverless: FakeServerless) -> None:
    with pytest.raises(SynapseError, match=r"connecting to synwabc-ondemand\.sql\.example\.net"
                                           r":1433 failed: Certificate does not match host"):
        open_session("synwabc-ondemand.sql.example.net", lambda: "token",
                     cafile=str(serverless.cafile), address=("127.0.0.1", serverless.port),
                     login_timeout=10)
    assert serverless.logins == []


def test_a_certificate_no_trusted_ca_signed_is_refused(serverless: FakeServerless) -> None:
    """certifi's CAs (the default) did not sign the stand-in's certificate."""
    with pytest.raises(SynapseError, match=r"connecting to .* failed: .*certificate verify"):
        open_session(SERVER, lambda: "token", address=("127.0.0.1", serverless.port),
                     login_timeout=10)
    assert serverless.logins == []


@pytest.mark.parametrize(("host", "matches"), [
    (SERVER, True), ("SYNWABC-ondemand.SQL.azuresynapse.net", True),
    ("sql.azuresynapse.net", False), ("a.b.sql.azuresynapse.net", False),
    ("synwabc-ondemand.sql.azuresynapse.net.example.com", False),
])
def test_a_wildcard_name_stands_for_one_label(serverless: FakeServerless, host: str,
                                              matches: bool) -> None:
    import OpenSSL.crypto

    pem = (serverless.cafile.parent / "server.pem").read_bytes()
    certificate = OpenSSL.crypto.load_certificate(OpenSSL.crypto.FILETYPE_PEM, pem)

    assert CERTIFICATE_NAME == "*.sql.azuresynapse.net"
    assert certificate_matches(certificate, host.encode()) is matches


# -- Power BI ---------------------------------------------------------------------------


def test_the_pbids_file_points_power_bi_at_the_database(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    target = tmp_path / "env" / "shoplake.pbids"
    code, out, err = run_main(monkeypatch, capsys, "pbids", str(target))

    assert (code, err) == (0, "")
    assert out == f"wrote {target}: {SERVER}, database shoplake, Import\n"
    assert json.loads(target.read_text()) == {"version": "0.1", "connections": [{
        "details": {"protocol": "tds", "address": {"server": SERVER, "database": "shoplake"},
                    "authentication": None, "query": None},
        "options": {}, "mode": "Import"}]}
    assert pbids(SERVER, "DirectQuery")["connections"][0]["mode"] == "DirectQuery"


def test_a_pbids_mode_power_bi_does_not_know_is_refused(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, _, err = run_main(monkeypatch, capsys, "pbids", str(tmp_path / "x.pbids"),
                            "--mode", "Live")

    assert code == 2
    assert "--mode is Import or DirectQuery, not 'Live'" in err
    assert not (tmp_path / "x.pbids").exists()
