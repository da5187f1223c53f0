"""The UCI Online Retail year (`../shared/data/`) as a shop uploads it: the cleaned year
written back in the raw export's shape, through the batch path, refreshed."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shared.batch.ingest import upload_file
from shared.batch.mapping import load_mapping
from shared.lake import Lake
from shared.warehouse.refresh import refresh
from tests.support.paths import ROOT

ONLINE_RETAIL_YEAR = (ROOT.parent / "shared" / "data" / "online_retail"
                      / "online_retail_2010_2011.parquet")
RAW_COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
               "CustomerID", "Country"]


def write_raw_export(source: Path, target: Path) -> int:
    """The cleaned year back in the raw export's shape (US dates, blank-free ids)."""
    table = pq.read_table(source)
    when = pc.strptime(table["InvoiceDate"], format="%Y-%m-%d %H:%M:%S", unit="s")
    columns = {
        "InvoiceNo": pc.cast(table["InvoiceNo"], pa.string()),
        "StockCode": table["StockCode"],
        "Description": table["Description"],
        "Quantity": pc.cast(table["Quantity"], pa.string()),
        "InvoiceDate": pc.strftime(when, format="%m/%d/%y %H:%M"),
        "UnitPrice": pc.cast(table["UnitPrice"], pa.string()),
        "CustomerID": pc.cast(pc.cast(table["CustomerID"], pa.int64()), pa.string()),
        "Country": table["Country"],
    }
    with gzip.open(target, "wt", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(RAW_COLUMNS)
        writer.writerows(zip(*(columns[name].to_pylist() for name in RAW_COLUMNS),
                             strict=True))
    return table.num_rows


def build_retail_year_lake(root: Path) -> Lake:
    """The year uploaded with the built-in `online_retail` mapping and refreshed."""
    lake = Lake.open(str(root / "lake"))
    export = root / "online_retail_2010_2011.csv.gz"
    write_raw_export(ONLINE_RETAIL_YEAR, export)
    upload_file(lake, export, load_mapping("online_retail"))
    refresh(lake)
    return lake
