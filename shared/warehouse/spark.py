"""Spark runs the refresh at scale (a Synapse Spark pool; local PySpark for tests).

The same specs and SQL files as the embedded engine: each statement is translated from
DuckDB SQL by sqlglot (`dialect.to_spark`), inputs are the live files of each Delta table
(`DeltaTable.file_uris()`, never a folder listing) and the raw and landed Parquet files.

Writes: Spark writes a table's new Parquet files (partitioned like the table) to a staging
folder under `_state/spark/`; the driver then moves them into the table's folder and
commits them with deltalake's write transaction (add actions, and the removal of the
partitions they replace), so the tables stay the Delta tables every other reader knows,
at the protocol the embedded engine writes, with no Delta jars on the pool. Results are
cast to the types the embedded engine gives (`Catalog.schemas`), so both engines write
the same schema and either may refresh a table the other built.

Merged tables (the dimensions) are computed on Spark and merged by deltalake on the driver:
their rows are brought into the driver, as the embedded engine does.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import DeltaTable

from shared.lake import Lake, Zone
from shared.settings import ConfigurationError
from shared.warehouse.dialect import to_spark
from shared.warehouse.sources import ParquetFiles, Rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

SESSION_CONF = {
    # Dates of timestamps are UTC dates, whatever the cluster's zone (as on DuckDB).
    "spark.sql.session.timeZone": "UTC",
    # INT96, Spark's default, is deprecated in Parquet and read as nanoseconds elsewhere.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # The pool's semantics (Spark 3.x's default) on every line: Spark 4 turned ANSI mode on,
    # which changes what casts and overflows do, so a local run would not show the pool's.
    "spark.sql.ansi.enabled": "false",
}


def local_spark(cores: int = 2, memory: str = "2g") -> SparkSession:
    """A local Spark session (tests, benchmarks, `shoplake refresh --engine spark`)."""
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(f"local[{cores}]").appName("shoplake")
               .config("spark.driver.memory", memory)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", str(max(4, cores * 2))))
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class SparkEngine:
    """A refresh's engine on a Spark session; inputs and queries are temporary views."""

    def __init__(self, spark: SparkSession) -> None:
        for key, value in SESSION_CONF.items():
            spark.conf.set(key, value)
        self.spark = spark
        self._views: set[str] = set()
        self._sources: dict[str, Rows | pa.Table] = {}

    def wants_files(self, lake: Lake) -> bool:
        if not (lake.local or lake.url.startswith("abfss://")):
            raise ConfigurationError(
                f"Spark reads local or abfss:// lakes, not {lake.url!r} (Azurite's az:// "
                "lakes are for the embedded engine)")
        return True

    def bind(self, name: str, data: Rows | pa.Table) -> None:
        if self._sources.get(name) is data:
            return  # already bound to this very input
        if isinstance(data, ParquetFiles):
            frame = self._read(data)
        elif isinstance(data, pa.Table):
            frame = self.spark.createDataFrame(
                [tuple(row.values()) for row in data.to_pylist()], spark_schema(data.schema))
        else:
            raise TypeError(f"Spark reads inputs as files, not {type(data).__name__}")
        self._name(name, frame)
        self._sources[name] = data

    def define(self, name: str, sql: str, *, materialize: bool = False) -> None:
        frame = self._query(sql, None)
        # Checkpointed: computed now, once, and no longer tied to views rebound later.
        self._name(name, frame.localCheckpoint() if materialize else frame)

    def table(self, sql: str) -> pa.Table:
        return _to_arrow(self._query(sql, None))

    def write(self, lake: Lake, sql: str, zone: Zone, table: str, *, schema: pa.Schema,
              partition_by: str | None, dates: list[date] | None,
              delta: DeltaTable | None) -> None:
        frame = self._query(sql, schema)
        staging = lake.path(Zone.STATE, "spark", uuid.uuid4().hex)
        # One task (so one file) per date partition; one file for a table without dates.
        writer = (frame.repartition(partition_by).write.partitionBy(partition_by)
                  if partition_by else frame.repartition(1).write)
        try:
            writer.mode("errorifexists").parquet(lake.uri(staging))
            lake.adopt_files(staging, zone, table, schema=schema, partition_by=partition_by,
                             partitions=None if dates is None
                             else [d.isoformat() for d in dates], table=delta)
        finally:  # what a failed write or commit left behind
            if lake.fs.get_file_info(staging).type != pafs.FileType.NotFound:
                lake.fs.delete_dir(staging)

    def close(self) -> None:
        for name in self._views:
            self.spark.catalog.dropTempView(name)
        self._views.clear()
        self._sources.clear()
        self.spark.catalog.clearCache()

    # -- internals --------------------------------------------------------------------

    def _name(self, name: str, frame: DataFrame) -> None:
        self._sources.pop(name, None)
        frame.createOrReplaceTempView(name)
        self._views.add(name)

    def _query(self, sql: str, schema: pa.Schema | None) -> DataFrame:
        frame = self.spark.sql(to_spark(sql))
        if schema is None:
            return frame
        from pyspark.sql.functions import col

        # The embedded engine's types, in its column order.
        return frame.select([col(f"`{field.name}`").cast(spark_type(field.type))
                             .alias(field.name) for field in schema])

    def _read(self, files: ParquetFiles) -> DataFrame:
        schema = spark_schema(files.schema)
        if not files.paths:
            return self.spark.createDataFrame([], schema)
        reader = self.spark.read.schema(schema)
        if files.partitioning:
            # Partition columns come from the folder names below the table's root.
            first = next(iter(files.partitioning))
            root = files.paths[0].rsplit(f"/{first}=", 1)[0]
            reader = reader.option("basePath", root)
        return reader.parquet(*files.paths)


def spark_schema(schema: pa.Schema) -> StructType:
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(field.name, spark_type(field.type), field.nullable)
                       for field in schema])


def spark_type(kind: pa.DataType) -> DataType:
    """The Spark type of an Arrow type the tables use."""
    from pyspark.sql import types as t

    if pa.types.is_timestamp(kind):
        # Zoned timestamps are instants (Spark's TIMESTAMP); naive ones are wall-clock times.
        return t.TimestampType() if kind.tz else t.TimestampNTZType()
    if pa.types.is_decimal(kind):
        return t.DecimalType(kind.precision, kind.scale)
    simple = {pa.string(): t.StringType(), pa.large_string(): t.StringType(),
              pa.bool_(): t.BooleanType(), pa.int8(): t.ByteType(), pa.int16(): t.ShortType(),
              pa.int32(): t.IntegerType(), pa.int64(): t.LongType(),
              pa.float32(): t.FloatType(), pa.float64(): t.DoubleType(),
              pa.date32(): t.DateType(), pa.binary(): t.BinaryType()}
    if kind not in simple:
        raise TypeError(f"no Spark type for Arrow type {kind}")
    return simple[kind]


def _to_arrow(frame: DataFrame) -> pa.Table:
    """A (small) result as Arrow: `toArrow` since Spark 4, the same path before it."""
    if hasattr(frame, "toArrow"):
        return frame.toArrow()
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(frame.schema)
    return pa.Table.from_batches(frame._collect_as_arrow(), schema=schema)
