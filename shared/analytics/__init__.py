"""The KPIs as the API and the dashboard serve them: one SQL query and one spec per KPI
(`kpis/`, loaded by `specs.py`), answered from the curated tables by `reader.py` (cached per
table version) and from ingestion's own records (`ingest_log.py`)."""

from shared.analytics.ingest_log import INGEST_LOG_SCHEMA, IngestLog
from shared.analytics.reader import KpiError, KpiFilters, KpiReader
from shared.analytics.specs import KPIS, KpiSpec, Limit, load_kpis

__all__ = [
    "INGEST_LOG_SCHEMA",
    "KPIS",
    "IngestLog",
    "KpiError",
    "KpiFilters",
    "KpiReader",
    "KpiSpec",
    "Limit",
    "load_kpis",
]
