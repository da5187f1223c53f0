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
