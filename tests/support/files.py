"""Uploaded files' bytes: compressed as exports are, zipped, or Parquet."""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq


def zstd_compress(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


COMPRESS = {"gzip": gzip.compress, "bzip2": bz2.compress, "zstd": zstd_compress}
"""The compressions uploads may use, by name: each a function of the plain bytes."""


def zip_bytes(data: bytes) -> bytes:
    """A zip archive holding `data` as export.csv (not an accepted upload)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.csv", data)
    return out.getvalue()


def parquet_bytes() -> bytes:
    """A small Parquet file (not an accepted upload)."""
    out = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": ["P1"], "price": [1.0]}), out)
    return out.getvalue().to_pybytes()


# An order export (shop_orders) whose rows land on two UTC dates, one row quarantined.
ORDERS = (
    b"order_id,line_number,ordered_at,customer_id,product_id,quantity,unit_price,currency,"
    b"status\n"
    b"O1,1,2026-11-08T23:30:00Z,C1,P1,2,1.50,GBP,sale\n"
    b"O1,2,2026-11-08T23:30:00Z,C1,P2,1,2.00,GBP,sale\n"
    b"O2,1,2026-11-09T00:15:00+01:00,C2,P1,1,1.50,GBP,sale\n"  # 23:15 UTC on the 8th
    b"O3,1,2026-11-10T08:00:00Z,,P3,-1,3.00,GBP,return\n"
    b"O4,1,2026-11-12T08:00:00Z,C3,P1,lots,1.50,GBP,sale\n"  # quarantined: not a date it lands
)
ORDER_DATES = ["2026-11-08", "2026-11-10"]
