"""The transforms' SQL is written once, in DuckDB's dialect; Spark runs a translation.

sqlglot translates each statement (the table's SELECT, and the statements an engine
builds around it) from DuckDB SQL to Spark SQL, so no transform has a second copy.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot


@lru_cache(maxsize=1024)
def to_spark(sql: str) -> str:
    """One DuckDB SELECT as Spark SQL."""
    (translated,) = sqlglot.transpile(sql, read="duckdb", write="spark")
    return translated
