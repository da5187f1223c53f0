"""The Spark job the Synapse pipeline runs (`infra/synapse/job.py` calls `main`).

`--step=upload`: land one uploaded export (the same code as the embedded runner: its rows
are streamed on the driver into the landed zone, once per content), then refresh the
warehouse on Spark; the planner finds the dates the file touches, as `--dates` said.
`--step=refresh`: the nightly run's refresh on Spark, as part of run `--writer` (which
holds the lake between its steps).

Arguments are `--name=value`, so that a pipeline expression giving an empty value still
parses. The exit code is 0 on success; on failure the error is printed as one line (and,
for an upload, recorded in the ledger entry of its file) and the code is 1, so the
pipeline run fails with that message.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING

from shared.batch.ingest import ingest_batch_file
from shared.batch.ledger import record_run_failure
from shared.batch.runner import Upload, mapping_for
from shared.lake import Lake
from shared.settings import Settings, current_settings
from shared.warehouse import refresh
from shared.warehouse.spark import SparkEngine

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger("shoplake.spark_job")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="shoplake-spark-job", description=__doc__)
    parser.add_argument("--lake", required=True, type=_lake_url,
                        help="the lake URL (abfss:// on Synapse)")
    parser.add_argument("--step", required=True, choices=("upload", "refresh"))
    for name in ("mapping", "dataset", "path", "sha256", "writer"):
        parser.add_argument(f"--{name}", default="")
    for name in ("dates", "partitions"):
        parser.add_argument(f"--{name}", default="", help="comma-separated ISO dates")
    return parser.parse_args(argv)


def _lake_url(text: str) -> str:
    if not text.strip():  # an empty pipeline parameter: never the job's working folder
        raise argparse.ArgumentTypeError("the lake URL is empty")
    return text


def main(argv: list[str] | None = None, spark: SparkSession | None = None,
         settings: Settings | None = None) -> int:
    """Run one step; `spark` defaults to the session the pool gives the job, `settings` to
    the environment's (the lake is the one `--lake` names)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse(sys.argv[1:] if argv is None else argv)
    settings = (settings or current_settings()).model_copy(update={"lake_url": args.lake})
    lake: Lake | None = None
    try:
        lake = Lake.from_settings(settings)
        if spark is None:
            from pyspark.sql import SparkSession

            spark = SparkSession.builder.getOrCreate()
        summary = (_upload(lake, args, spark) if args.step == "upload"
                   else _refresh(lake, args, spark))
    except Exception as error:  # the run fails with one readable line, recorded
        message = f"{type(error).__name__}: {' '.join(str(error).split())}"
        if lake is not None and args.step == "upload" and args.sha256:
            record_run_failure(lake, args.sha256, message)
        print(f"shoplake spark job failed: {message}", file=sys.stderr)
        logger.exception("the %s step failed", args.step)
        return 1
    print(json.dumps(summary))
    return 0


def _upload(lake: Lake, args: argparse.Namespace, spark: SparkSession) -> dict[str, object]:
    upload = Upload.at(lake, args.path)
    with lake.writer():
        landed = ingest_batch_file(lake, upload.path, mapping_for(lake, upload.mapping))
        logger.info("upload %s: %s (dates %s)", upload.name, landed.status, args.dates or "-")
        result = refresh(lake, engine=lambda: SparkEngine(spark))
    return {"upload": landed.to_json(), "refresh": result.to_json()}


def _refresh(lake: Lake, args: argparse.Namespace, spark: SparkSession) -> dict[str, object]:
    logger.info("refresh of run %s (planned dates %s)", args.writer or "-",
                args.partitions or "-")
    with lake.writer(args.writer or None):
        result = refresh(lake, engine=lambda: SparkEngine(spark))
    return {"refresh": result.to_json()}


if __name__ == "__main__":
    sys.exit(main())
