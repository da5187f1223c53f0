"""Create the serverless SQL objects of `infra/synapse/sql/` in a workspace (`shoplake synapse
sql`), and the Power BI data source file that connects to them (`shoplake synapse pbids`).

A workspace's serverless SQL endpoint is `<workspace>-ondemand.sql.<suffix>`, named after the
workspace of SYNAPSE_ENDPOINT (`https://<workspace>.dev.<suffix>`). It speaks TDS, SQL Server's
protocol, and takes Microsoft Entra ID access tokens only (the workspace is Entra-only).

`plan_sql` reads the committed files (what was reviewed is what runs), refuses them when they
no longer match what the catalog generates, and fills in their placeholders from the settings;
it contacts nothing, so `--dry-run` prints exactly what would be sent. `apply_plan` sends the
batches in order through an `SqlSession`.

The session is python-tds (`pytds`), a pure-Python TDS 7.4 client: TLS through pyOpenSSL,
the server's certificate verified against certifi's CAs and its host name, and the access token
sent in the login (TDS's FEDAUTH feature) with the scope of Azure SQL. It is what pip installs
everywhere: Microsoft's mssql-python bundles an ODBC driver that needs the system's libltdl
(absent from slim Debian images), and pyodbc needs msodbcsql18 installed as a system package.
The tests drive the real driver against a TDS server on the loopback interface (TLS, token,
batches, errors); no test reaches Azure, so Synapse's own answers are not exercised here.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError

from shared.lake import Zone
from shared.settings import ConfigurationError, Settings
from shared.synapse import SynapseError, synapse_error
from shoplake.serverless_sql import (
    CURATED_URL,
    DATABASE,
    SQL_FOLDER,
    VIEW_PREFIX,
    WRITE_COMMAND,
    generate,
    split_batches,
    stale_files,
)
from shoplake.synapse_deploy import ROOT, JobFolder

if TYPE_CHECKING:
    import OpenSSL.crypto
    import pytds

SQL_SCOPE = "https://database.windows.net/.default"
"""The token audience of Azure SQL, serverless SQL pools included."""
PORT = 1433
Mode = Literal["Import", "DirectQuery"]


class StaleSqlError(RuntimeError):
    """The committed SQL files no longer match the catalog."""


@dataclass(frozen=True)
class Script:
    name: str
    batches: tuple[str, ...]


@dataclass(frozen=True)
class SqlPlan:
    """What `shoplake synapse sql` sends, resolved offline."""

    server: str
    lake_curated_url: str
    scripts: tuple[Script, ...]

    @property
    def views(self) -> list[str]:
        return [script.name.removeprefix(VIEW_PREFIX).removesuffix(".sql")
                for script in self.scripts if script.name.startswith(VIEW_PREFIX)]

    def describe(self) -> dict[str, Any]:
        return {"server": self.server, "database": DATABASE,
                "lake_curated_url": self.lake_curated_url, "views": self.views,
                "scripts": [{"name": script.name, "batches": list(script.batches)}
                            for script in self.scripts]}


def serverless_endpoint(synapse_endpoint: str | None) -> str:
    """The serverless SQL endpoint of the workspace whose dev endpoint is given."""
    example = "https://<workspace>.dev.azuresynapse.net"
    if not synapse_endpoint:
        raise ConfigurationError(
            f"SYNAPSE_ENDPOINT is not set: the workspace dev endpoint, {example}, names the "
            "serverless SQL endpoint (azd env get-value SYNAPSE_ENDPOINT)")
    parts = urlsplit(synapse_endpoint.strip())
    workspace, _, suffix = (parts.hostname or "").partition(".dev.")
    if parts.scheme != "https" or not workspace or not suffix or parts.path not in ("", "/"):
        raise ConfigurationError(
            f"SYNAPSE_ENDPOINT {synapse_endpoint!r} is not a workspace dev endpoint like {example}")
    return f"{workspace}-ondemand.sql.{suffix}"


def curated_url(lake_url: str) -> str:
    """The lake's curated zone as serverless SQL reads it: https://account.dfs.<suffix>/…"""
    root = JobFolder.parse(lake_url, "LAKE_URL")
    return f"{root.https_url}/{Zone.CURATED.value}"


def plan_sql(settings: Settings, root: Path = ROOT) -> SqlPlan:
    """The committed scripts, checked against the catalog, placeholders filled (local files
    only)."""
    folder = root / SQL_FOLDER
    if not folder.is_dir():
        raise ConfigurationError(f"{folder} is missing: shoplake synapse sql runs from a "
                                 "checkout of the repository")
    stale = stale_files(folder, generate())
    if stale:
        raise StaleSqlError(f"{SQL_FOLDER}/ does not match the catalog ({'; '.join(stale)}): "
                            f"run `{WRITE_COMMAND}` and commit the files")
    server = serverless_endpoint(settings.synapse_endpoint)
    url = curated_url(settings.lake_url)
    literal = url.replace("'", "''")  # it lands in N'…'
    scripts = []
    for path in sorted(folder.glob("*.sql")):
        text = path.read_text(encoding="utf-8").replace(f"${{{CURATED_URL}}}", literal)
        if "${" in text:
            raise ValueError(f"{SQL_FOLDER}/{path.name} has a placeholder no setting fills")
        scripts.append(Script(path.name, tuple(split_batches(text))))
    return SqlPlan(server, url, tuple(scripts))


class SqlSession(Protocol):
    """Runs one T-SQL batch, raising SynapseError when the server refuses it."""

    def execute(self, batch: str) -> None: ...


@dataclass(frozen=True)
class ApplyReport:
    server: str
    scripts: tuple[Script, ...]
    views: tuple[str, ...]


def apply_plan(plan: SqlPlan, session: SqlSession,
               progress: Callable[[str], None] = lambda _: None) -> ApplyReport:
    """Send every batch, script by script, in order; stop at the first refusal."""
    for script in plan.scripts:
        for number, batch in enumerate(script.batches, 1):
            try:
                session.execute(batch)
            except SynapseError as error:
                raise SynapseError(
                    f"{script.name}, batch {number} ({_statement(batch)}): {error}",
                    error.status_code, error.code) from None
        progress(f"applied {script.name} ({len(script.batches)} batches)")
    return ApplyReport(plan.server, plan.scripts, tuple(plan.views))


def _statement(batch: str) -> str:
    """The batch's first line that is not a comment, to name it in an error."""
    return next((line.strip() for line in batch.splitlines()
                 if line.strip() and not line.lstrip().startswith("--")), "")


class TdsSession:
    """One connection to a serverless SQL endpoint through python-tds, in autocommit mode
    (CREATE DATABASE cannot run in a transaction). Close it (`contextlib.closing`)."""

    def __init__(self, connection: pytds.Connection, server: str) -> None:
        self._connection = connection
        self.server = server

    def execute(self, batch: str) -> None:
        import OpenSSL.SSL
        import pytds

        try:
            with self._connection.cursor() as cursor:
                # No parameters: sent as a plain SQL batch, not through sp_executesql (where a
                # CREATE VIEW would not be the first statement of its batch).
                cursor.execute(batch)
                while cursor.nextset():  # an error in a later statement arrives here
                    pass
        except (pytds.Error, OpenSSL.SSL.Error, OSError) as error:
            raise SynapseError(f"{self.server} refused it: {_one_line(error)}") from None

    def close(self) -> None:
        self._connection.close()


def open_session(server: str, access_token: Callable[[], str], *, port: int = PORT,
                 database: str = "master", cafile: str | None = None,
                 address: tuple[str, int] | None = None, login_timeout: float = 30.0,
                 query_timeout: float = 600.0) -> TdsSession:
    """A session signed in with the token `access_token()` returns, over TLS verified against
    `cafile` (default: certifi's CAs) for the host name `server`. `address` connects to
    another address under that name (tests: a stand-in on the loopback interface)."""
    import certifi
    import OpenSSL.SSL
    import pytds
    import pytds.tls

    pytds.tls.validate_host = certificate_matches  # see certificate_matches: pytds's fails
    try:
        sock = socket.create_connection(address, timeout=login_timeout) if address else None
        try:
            connection = pytds.connect(
                dsn=server, port=port, database=database, autocommit=True,
                cafile=cafile or certifi.where(), validate_host=True,
                access_token_callable=access_token, login_timeout=login_timeout,
                timeout=query_timeout, appname="shoplake", sock=sock)
        except BaseException:
            if sock is not None:  # pytds leaves it open when the token fails
                sock.close()
            raise
    except AzureError as error:  # from access_token(): no credential, or no token for it
        raise synapse_error(f"signing in to {server}", error) from None
    except (pytds.Error, OpenSSL.SSL.Error, OSError) as error:
        raise SynapseError(f"connecting to {server}:{port} failed: {_one_line(error)}") from None
    return TdsSession(connection, server)


def certificate_matches(cert: OpenSSL.crypto.X509, name: bytes) -> bool:
    """Whether the server's certificate is for the host `name`: its DNS names (a wildcard
    standing for the first label only, as Synapse's `*.sql.azuresynapse.net`), or its common
    name when it has none.

    Stands in for python-tds's own check, which reads extensions with a pyOpenSSL API that
    pyOpenSSL 26.2 removed, and so fails on every certificate whose common name is not the
    host name, Azure's included."""
    from cryptography import x509

    host = name.decode("ascii").lower()
    certificate = cert.to_cryptography()
    try:
        alternative = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        patterns = alternative.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        patterns = [str(attribute.value) for attribute in
                    certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    return any(_host_matches(pattern.lower(), host) for pattern in patterns)


def _host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        label, _, rest = host.partition(".")
        return bool(label) and rest == pattern[2:]
    return pattern == host


def open_sql_session(settings: Settings, server: str) -> TdsSession:
    """A session on `server` signed in with DefaultAzureCredential (`az login` on a laptop)."""
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    return open_session(server, lambda: credential.get_token(SQL_SCOPE).token)


def pbids(server: str, mode: Mode = "Import") -> dict[str, Any]:
    """A Power BI data source file (.pbids): the serverless endpoint and the database; Power BI
    Desktop opens it at the Navigator, where one picks the views (sign-in: Microsoft account,
    that is Entra ID)."""
    return {"version": "0.1", "connections": [{
        "details": {"protocol": "tds", "address": {"server": server, "database": DATABASE},
                    "authentication": None, "query": None},
        "options": {},
        "mode": mode,
    }]}


def write_pbids(path: Path, server: str, mode: Mode = "Import") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pbids(server, mode), indent=2) + "\n", encoding="utf-8")


def _one_line(error: BaseException) -> str:
    """The error's message: python-tds keeps it as the first argument (beside its SQLSTATE),
    OpenSSL as a list of (library, function, reason)."""
    first = error.args[0] if error.args else None
    if isinstance(first, str):
        text = first
    elif isinstance(first, list) and all(isinstance(item, tuple) for item in first):
        text = "; ".join(str(item[-1]) for item in first)
    else:
        text = str(error)
    return " ".join(text.split()) or type(error).__name__
