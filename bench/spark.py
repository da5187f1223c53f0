"""Spark benchmark: the same full build of the star schema on local Spark and on DuckDB.

The shop's history (~10 million events, `bench/refresh.py`'s) is delivered once and copied;
one copy is refreshed whole by the embedded engine (DuckDB, in this process), the other by
the Spark engine the Synapse job runs (local PySpark, all cores of this machine), and the
tables are checked to hold the same number of rows. Spark on one machine is not what it is
for (a pool spreads the work over nodes): the ratio says what one local core-hour of Spark
buys against DuckDB's, which is what docs/synapse.md's crossover is computed from.

Last line, one JSON object: {"bench": "spark", "events", "spark_s", "duckdb_s", "ratio",
"spark_peak_rss_mb" (the JVM's high-water mark), "peak_rss_mb" (this process)}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from refresh import deliver_history  # noqa: E402

from shared.lake import Lake  # noqa: E402
from shared.warehouse.refresh import refresh  # noqa: E402
from shared.warehouse.spark import SparkEngine, local_spark  # noqa: E402
from shared.warehouse.specs import CATALOG  # noqa: E402


def jvm_peak_rss_mb(spark: object) -> float:
    """The Spark JVM's peak resident memory (VmHWM), read before it stops."""
    pid = spark.sparkContext._gateway.proc.pid  # type: ignore[attr-defined]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc: peak memory is measured on Linux")


def row_counts(lake: Lake) -> dict[str, int]:
    return {spec.name: lake.table(spec.zone, spec.table).count() for spec in CATALOG}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--spark-memory", default="8g", help="the local Spark driver's heap")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="shoplake-bench-spark-"))
    history = deliver_history(work / "duckdb", work / "exports", args.events, args.days)
    shutil.copytree(work / "duckdb", work / "spark")

    duckdb_s = refresh(history.lake, full=True).seconds
    print(f"duckdb {duckdb_s:.1f} s", file=sys.stderr)

    spark = local_spark(cores=os.cpu_count() or 2, memory=args.spark_memory)
    spark.sparkContext.setLogLevel("ERROR")
    spark_lake = Lake.open(str(work / "spark"))
    spark_s = refresh(spark_lake, full=True, engine=lambda: SparkEngine(spark)).seconds
    spark_peak = jvm_peak_rss_mb(spark)
    spark.stop()
    print(f"spark {spark_s:.1f} s", file=sys.stderr)

    counts = row_counts(history.lake)
    assert counts == row_counts(spark_lake), "the engines built different tables"
    shutil.rmtree(work)
    print(json.dumps({
        "bench": "spark",
        "events": history.events,
        "spark_s": round(spark_s, 2),
        "duckdb_s": round(duckdb_s, 2),
        "ratio": round(spark_s / duckdb_s, 2),
        "spark_peak_rss_mb": spark_peak,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "fact_sales_rows": counts["fact_sales"],
    }))


if __name__ == "__main__":
    main()
