"""The KPIs the API serves, as declared: `kpis/<name>.sql` plus `kpis/<name>.toml`.

Each SQL file is one query over curated tables (and `ingest_log`, what ingestion received)
with named parameters: `$date_from`, `$date_to` (the period, both days included),
`$previous_from`, `$previous_to` (the period of the same length just before), `$category`
(NULL: all) and `$limit`. Its spec says what the query cannot: its title, which filters
apply, the limit's default and maximum, and what each column means. The reader loops over
these; a new KPI is one SQL file and one spec.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from shared.lake import Zone
from shared.settings import ConfigurationError
from shared.warehouse.specs import CATALOG, references

KPIS_FOLDER = Path(__file__).with_name("kpis")
INGEST_LOG = "ingest_log"
"""The relation of ingestion's own records (`shared.analytics.ingest_log`)."""
CURATED_TABLES = tuple(spec.name for spec in CATALOG if spec.zone is Zone.CURATED)

Filter = Literal["from", "to", "category", "limit"]
PARAMETERS = ("date_from", "date_to", "previous_from", "previous_to", "category", "limit")
FILTER_PARAMETERS = {"from": "date_from", "to": "date_to", "category": "category",
                     "limit": "limit"}
"""Each filter of the API, and the SQL parameter (and `KpiFilters` field) that carries it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limit(_Strict):
    default: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> Limit:
        if not 1 <= self.default <= self.max:
            raise ValueError("limit: 1 <= default <= max")
        return self


class _KpiFile(_Strict):
    title: str
    description: str
    filters: tuple[Filter, ...]
    limit: Limit | None = None
    example: dict[str, Any]
    """One row as the KPI answers (for the OpenAPI document)."""
    columns: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> _KpiFile:
        if ("limit" in self.filters) != (self.limit is not None):
            raise ValueError("a `limit` table goes with the `limit` filter, and only with it")
        if list(self.example) != list(self.columns):
            raise ValueError("the example row has the columns, in their order")
        return self


@dataclass(frozen=True)
class KpiSpec:
    name: str
    title: str
    description: str
    filters: tuple[Filter, ...]
    limit: Limit | None
    columns: dict[str, str]
    """Each result column, in order, and what it means."""
    example: dict[str, Any]
    sql: str
    reads: tuple[str, ...]
    """The curated tables (and `ingest_log`) its SQL reads."""
    parameters: tuple[str, ...]
    """The named parameters its SQL uses."""


def load_kpis(folder: Path = KPIS_FOLDER) -> dict[str, KpiSpec]:
    """Every KPI of the folder by name; a spec that does not match its SQL is refused."""
    found = {}
    for sql_file in sorted(folder.glob("*.sql")):
        name = sql_file.stem
        spec_file = sql_file.with_suffix(".toml")
        try:
            declared = _KpiFile.model_validate(tomllib.loads(spec_file.read_text()))
        except FileNotFoundError:
            raise ConfigurationError(f"{sql_file}: no {spec_file.name} beside it") from None
        except (tomllib.TOMLDecodeError, ValidationError) as error:
            raise ConfigurationError(f"{spec_file}: {error}") from None
        sql = sql_file.read_text()
        parameters = tuple(sorted(set(re.findall(r"\$([a-z_]+)", sql))))
        unknown = set(parameters) - set(PARAMETERS)
        unused = {FILTER_PARAMETERS[f] for f in declared.filters} - set(parameters)
        reads = tuple(references(sql, (*CURATED_TABLES, INGEST_LOG)))
        if unknown or unused or not reads:
            raise ConfigurationError(
                f"{sql_file}: " + "; ".join(filter(None, [
                    unknown and f"unknown parameters {sorted(unknown)} (known: {PARAMETERS})",
                    unused and f"filters whose parameters it never uses: {sorted(unused)}",
                    not reads and "reads no curated table"])))
        found[name] = KpiSpec(name, declared.title, declared.description, declared.filters,
                              declared.limit, declared.columns, declared.example, sql, reads,
                              parameters)
    return found


KPIS = load_kpis()
