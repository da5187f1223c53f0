"""The Synapse serverless SQL objects Power BI reads the curated zone through, as T-SQL files.

`infra/synapse/sql/` holds them, generated from the warehouse's catalog (every table of the
curated zone) and from batch scoring's `customer_recommendations`, so a new KPI table gets
its view from `shoplake synapse sql --write` and from nothing else. Applied in name order:

- `01-database.sql` (in `master`): the database `shoplake`, UTF-8 collation, as Parquet's
  strings are UTF-8;
- `02-data-source.sql`: a master key, the credential `WorkspaceIdentity` (the workspace's
  managed identity, which holds a data role on the lake account) and the external data source
  `shoplake_curated` at the lake's curated zone, `${LAKE_CURATED_URL}` filled in when applied;
- `03-readers.sql`: the role `shoplake_readers`, which may read the views (SELECT on `dbo`) and
  use the credential (REFERENCES), so readers need no role on the storage account;
- `04-view-<table>.sql`, one per curated table: `CREATE OR ALTER VIEW dbo.<table>` over
  `OPENROWSET(... FORMAT = 'DELTA')` with every column's name and T-SQL type spelt out.

Every statement is idempotent (IF [NOT] EXISTS, CREATE OR ALTER, GRANT), so applying the
files again changes only what changed. Batches are separated by `GO` lines, as sqlcmd and
Synapse Studio expect; a view's CREATE is alone in its batch, as T-SQL requires.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from shared.lake import Zone
from shared.warehouse import CATALOG, Catalog

SQL_FOLDER = "infra/synapse/sql"  # below the repository root
WRITE_COMMAND = "shoplake synapse sql --write"
DATABASE = "shoplake"
COLLATION = "Latin1_General_100_BIN2_UTF8"
CREDENTIAL = "WorkspaceIdentity"
DATA_SOURCE = "shoplake_curated"
READERS = "shoplake_readers"
CURATED_URL = "LAKE_CURATED_URL"
"""The placeholder (`${LAKE_CURATED_URL}`) of the curated zone's https:// URL."""
STRING_BYTES = 8000
"""VARCHAR's width for every string column: the widest short string, which is what
serverless SQL infers for Parquet strings. A value longer than its column's width fails the
whole query ("String or binary data would be truncated"), and nothing bounds the length of
what customers' exports carry (names, categories), so no narrower width is safe."""
VIEW_PREFIX = "04-view-"
_GO = re.compile(r"^[ \t]*GO[ \t]*$", re.IGNORECASE | re.MULTILINE)
_TIME_PRECISION = {"s": 0, "ms": 3, "us": 6, "ns": 7}


class UnsupportedColumnError(ValueError):
    """A column whose type serverless SQL cannot read from a Delta table."""


@dataclass(frozen=True)
class CuratedTable:
    """A Delta table of the curated zone, as its view sees it."""

    name: str
    """The view's name (the table's name in the catalog)."""
    folder: str
    """Its folder in the zone: `<lake>/curated/<folder>/`."""
    schema: pa.Schema
    partition_by: str | None
    source: str
    """What declares it (named in the file's header)."""


@dataclass(frozen=True)
class SqlFile:
    name: str
    text: str

    @property
    def batches(self) -> list[str]:
        return split_batches(self.text)


def curated_tables(catalog: Catalog = CATALOG) -> list[CuratedTable]:
    """Every table of the curated zone, by name: the catalog's and the recommendations."""
    from model.batch_scoring import RECOMMENDATIONS_SCHEMA, TABLE

    tables = [CuratedTable(spec.name, spec.table, catalog.schemas[spec.name], spec.partition_by,
                           f"shared/warehouse/tables/{spec.name}.toml")
              for spec in catalog if spec.zone is Zone.CURATED]
    tables.append(CuratedTable(TABLE, TABLE, RECOMMENDATIONS_SCHEMA, None,
                               "model/batch_scoring.py"))
    return sorted(tables, key=lambda table: table.name)


def tsql_type(field: pa.Field) -> str:
    """The T-SQL type serverless SQL reads a Delta column of `field`'s Arrow type as."""
    kind = field.type
    if pa.types.is_dictionary(kind):
        return tsql_type(field.with_type(kind.value_type))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return f"VARCHAR({STRING_BYTES}) COLLATE {COLLATION}"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "VARBINARY(8000)"
    if pa.types.is_boolean(kind):
        return "BIT"
    if pa.types.is_integer(kind):
        return _integer_type(kind)
    if pa.types.is_float32(kind):
        return "REAL"
    if pa.types.is_float64(kind):
        return "FLOAT"
    if pa.types.is_decimal(kind) and kind.precision <= 38:
        return f"DECIMAL({kind.precision}, {kind.scale})"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        # A Delta `timestamp` (an instant, kept in microseconds): DATETIME2 in UTC.
        return f"DATETIME2({_TIME_PRECISION[kind.unit]})"
    reason = ("a timestamp without time zone is Delta's timestamp_ntz, a table feature "
              "serverless SQL cannot read: write it as UTC"
              if pa.types.is_timestamp(kind) else "serverless SQL has no type for it")
    raise UnsupportedColumnError(f"column {field.name!r} ({kind}): {reason}")


def _integer_type(kind: pa.DataType) -> str:
    # TINYINT is unsigned in T-SQL: int8 needs SMALLINT, and each unsigned type the next size.
    signed = {8: "SMALLINT", 16: "SMALLINT", 32: "INT", 64: "BIGINT"}
    unsigned = {8: "TINYINT", 16: "INT", 32: "BIGINT", 64: "DECIMAL(20, 0)"}
    return (signed if pa.types.is_signed_integer(kind) else unsigned)[kind.bit_width]


def generate(tables: Iterable[CuratedTable] | None = None) -> list[SqlFile]:
    """The files of `infra/synapse/sql/`, in the order they are applied."""
    views = [_view_file(table) for table in (curated_tables() if tables is None else tables)]
    return [_database_file(), _data_source_file(), _readers_file(), *views]


def split_batches(text: str) -> list[str]:
    """The batches of a script: the text between `GO` lines, without empty ones."""
    return [batch.strip() for batch in _GO.split(text) if batch.strip()]


def _header(what: str, source: str = "shoplake/serverless_sql.py") -> str:
    return (f"-- Generated from {source} by `{WRITE_COMMAND}`: do not edit.\n"
            f"-- {what}\n")


def _script(header: str, *batches: str, database: str | None = DATABASE) -> str:
    """The header's comments, then each batch followed by a `GO` line; `USE database;` first."""
    use = [f"USE {database};"] if database else []
    return header + "".join(f"{batch}\nGO\n" for batch in [*use, *batches])


def _database_file() -> SqlFile:
    header = _header("The database Power BI connects to (run in master). UTF-8 collation: "
                     "Parquet's strings are UTF-8.")
    return SqlFile("01-database.sql", _script(
        header,
        f"IF DB_ID(N'{DATABASE}') IS NULL\n    CREATE DATABASE {DATABASE} COLLATE {COLLATION};",
        database=None))


def _data_source_file() -> SqlFile:
    header = _header(
        "How the views reach the lake: as the workspace's managed identity, which holds a data\n"
        "-- role on the lake account (infra/app/synapse.bicep). A database scoped credential\n"
        "-- needs a master key; its random password is never needed again.")
    return SqlFile("02-data-source.sql", _script(
        header,
        "IF NOT EXISTS (SELECT 1 FROM sys.symmetric_keys WHERE name = '##MS_DatabaseMasterKey##')\n"
        "BEGIN\n"
        "    DECLARE @create_key NVARCHAR(MAX) = N'CREATE MASTER KEY ENCRYPTION BY PASSWORD = '''\n"
        "        + CAST(NEWID() AS NVARCHAR(36)) + N'''';\n"
        "    EXEC sp_executesql @create_key;\n"
        "END;",
        f"IF NOT EXISTS (SELECT 1 FROM sys.database_scoped_credentials WHERE name = '{CREDENTIAL}')"
        f"\n    CREATE DATABASE SCOPED CREDENTIAL {CREDENTIAL} WITH IDENTITY = 'Managed Identity';",
        "-- Another lake (LAKE_URL changed): the data source is created anew.\n"
        f"IF EXISTS (SELECT 1 FROM sys.external_data_sources WHERE name = '{DATA_SOURCE}'\n"
        f"           AND location <> N'${{{CURATED_URL}}}')\n"
        f"    DROP EXTERNAL DATA SOURCE {DATA_SOURCE};",
        f"IF NOT EXISTS (SELECT 1 FROM sys.external_data_sources WHERE name = '{DATA_SOURCE}')\n"
        f"    CREATE EXTERNAL DATA SOURCE {DATA_SOURCE}\n"
        f"    WITH (LOCATION = N'${{{CURATED_URL}}}', CREDENTIAL = {CREDENTIAL});"))


def _readers_file() -> SqlFile:
    header = _header(
        "Who may read the views: members of shoplake_readers (docs/power-bi.md adds them). They\n"
        "-- read through the credential, so they need no role on the storage account.")
    return SqlFile("03-readers.sql", _script(
        header,
        f"IF DATABASE_PRINCIPAL_ID(N'{READERS}') IS NULL\n    CREATE ROLE {READERS};",
        f"GRANT SELECT ON SCHEMA::dbo TO {READERS};\n"
        f"GRANT REFERENCES ON DATABASE SCOPED CREDENTIAL::{CREDENTIAL} TO {READERS};"))


def _view_file(table: CuratedTable) -> SqlFile:
    partition = f", partitioned by {table.partition_by}" if table.partition_by else ""
    header = _header(f"The Delta table curated/{table.folder}/{partition}.", table.source)
    columns = ",\n".join(f"    {_quoted(field.name)} {tsql_type(field)}"
                         for field in table.schema)
    view = (f"CREATE OR ALTER VIEW dbo.{table.name} AS\n"
            "SELECT *\n"
            "FROM OPENROWSET(\n"
            f"    BULK '{table.folder}',\n"
            f"    DATA_SOURCE = '{DATA_SOURCE}',\n"
            "    FORMAT = 'DELTA'\n"
            f") WITH (\n{columns}\n) AS [rows];")
    return SqlFile(f"{VIEW_PREFIX}{table.name}.sql", _script(header, view))


def _quoted(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


@dataclass(frozen=True)
class WriteReport:
    written: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]


def write_files(folder: Path, files: list[SqlFile]) -> WriteReport:
    """Make `folder` hold exactly `files` (its other `.sql` files are removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {file.name for file in files}
    removed = tuple(sorted(path.name for path in folder.glob("*.sql") if path.name not in names))
    for name in removed:
        (folder / name).unlink()
    written = []
    for file in files:
        path = folder / file.name
        if not path.exists() or path.read_text(encoding="utf-8") != file.text:
            path.write_text(file.text, encoding="utf-8")
            written.append(file.name)
    unchanged = tuple(file.name for file in files if file.name not in written)
    return WriteReport(tuple(written), removed, unchanged)


def stale_files(folder: Path, files: list[SqlFile]) -> list[str]:
    """How `folder` differs from `files`: one phrase per file missing, changed or extra."""
    present = {path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.sql")}
    expected = {file.name: file.text for file in files}
    return sorted([f"{name} is missing" for name in expected.keys() - present.keys()]
                  + [f"{name} is out of date" for name in expected.keys() & present.keys()
                     if present[name] != expected[name]]
                  + [f"{name} is not generated" for name in present.keys() - expected.keys()])
