"""Reading real CSV bytes: encodings, line endings, quoting, compression, headers, chunking."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.batch import reader
from shared.batch.mapping import Mapping, load_mapping_text
from shared.batch.reader import (
    MissingColumnsError,
    UnreadableFileError,
    count_records,
    read_batch_file,
)
from shared.landed import ROW_QUARANTINE_SCHEMA, SCHEMAS
from tests.support.files import COMPRESS, parquet_bytes, zip_bytes

PRODUCTS = load_mapping_text("""
dataset = "products"
[columns]
product_id = "id"
name = "name"
unit_price = "price"
""", "products.toml")

LATIN1 = load_mapping_text("""
dataset = "products"
csv = { encoding = "latin-1" }
[columns]
product_id = "id"
name = "name"
unit_price = "price"
""", "latin1.toml")

ORDERS = load_mapping_text("""
dataset = "order_lines"
[columns]
order_id = "order"
product_id = "product"
quantity = "qty"
unit_price = "price"
ordered_at = "at"
""", "orders.toml")


def write(tmp_path: Path, data: bytes, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read(path: Path, mapping: Mapping = PRODUCTS, chunk_rows: int = 100_000,
         ) -> tuple[pa.Table, pa.Table]:
    """All chunks of a file, concatenated (landed, quarantined)."""
    with path.open("rb") as stream:
        chunks = list(read_batch_file(stream, mapping, name=path.name, chunk_rows=chunk_rows))
    for chunk in chunks:
        assert chunk.landed.schema == SCHEMAS[mapping.dataset]
        assert chunk.quarantined.schema == ROW_QUARANTINE_SCHEMA
        assert chunk.landed.num_rows + chunk.quarantined.num_rows <= chunk_rows
    landed = pa.concat_tables([SCHEMAS[mapping.dataset].empty_table(), *(c.landed for c in chunks)])
    quarantined = pa.concat_tables([ROW_QUARANTINE_SCHEMA.empty_table(),
                                    *(c.quarantined for c in chunks)])
    return landed, quarantined


def test_plain_file_lands_with_physical_row_numbers(tmp_path: Path) -> None:
    landed, quarantined = read(write(tmp_path, b"id,name,price\nP1,Mug,3.5\nP2,Cup,19.0\n"))
    assert quarantined.num_rows == 0
    assert landed.to_pylist() == [
        {"product_id": "P1", "name": "Mug", "category": None, "unit_price": Decimal("3.5"),
         "currency": None, "source_row": 2},
        {"product_id": "P2", "name": "Cup", "category": None, "unit_price": Decimal("19"),
         "currency": None, "source_row": 3},
    ]


def test_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    landed, _ = read(write(tmp_path, b"\xef\xbb\xbfid,name,price\nP1,Caf\xc3\xa9,1\n"))
    assert landed["product_id"].to_pylist() == ["P1"]
    assert landed["name"].to_pylist() == ["Café"]


def test_utf8_bom_is_tolerated_under_latin1(tmp_path: Path) -> None:
    landed, _ = read(write(tmp_path, b"\xef\xbb\xbfid,name,price\nP1,Caf\xe9,1\n"), LATIN1)
    assert landed["name"].to_pylist() == ["Café"]


def test_latin1_is_read_when_the_mapping_says_so(tmp_path: Path) -> None:
    landed, quarantined = read(write(tmp_path, b"id,name,price\nP1,Caf\xe9,1\n"), LATIN1)
    assert quarantined.num_rows == 0
    assert landed["name"].to_pylist() == ["Café"]


def test_latin1_bytes_under_utf8_are_bad_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, b"id,name,price\nP1,Caf\xe9,1\nP2,Tea,2\n")
    landed, quarantined = read(path)
    assert landed["product_id"].to_pylist() == ["P2"]
    row = quarantined.to_pylist()[0]
    assert row["row_number"] == 2
    assert row["reason"] == "bad_encoding"
    assert row["original_line"] == "P1,Caf\ufffd,1"
    assert "e9" in row["detail"]
    assert "utf-8" in row["detail"]
    assert "replacement" in row["detail"]
    assert row["original"] == [("id", "P1"), ("name", "Caf\ufffd"), ("price", "1")]


def test_crlf_line_endings(tmp_path: Path) -> None:
    landed, quarantined = read(write(tmp_path, b"id,name,price\r\nP1,Mug,1\r\nP2,x,y\r\n"))
    assert landed["name"].to_pylist() == ["Mug"]
    assert quarantined["original_line"].to_pylist() == ["P2,x,y"]
    assert quarantined["row_number"].to_pylist() == [3]


def test_lone_cr_line_endings(tmp_path: Path) -> None:
    landed, _ = read(write(tmp_path, b"id,name,price\rP1,Mug,1\rP2,Cup,2"))
    assert landed["source_row"].to_pylist() == [2, 3]


def test_quoted_commas_and_newlines_keep_row_numbers_and_original_text(tmp_path: Path) -> None:
    data = (b'id,name,price\r\n'
            b'P1,"Mug, large",1\r\n'
            b'P2,"two\r\nline\nname",2\r\n'
            b'P3,"say ""hi""",oops\r\n'
            b'P4,"last\nline",bad\n')
    landed, quarantined = read(write(tmp_path, data))
    assert landed.select(["product_id", "name", "source_row"]).to_pylist() == [
        {"product_id": "P1", "name": "Mug, large", "source_row": 2},
        {"product_id": "P2", "name": "two\r\nline\nname", "source_row": 3},
    ]
    assert quarantined.select(["row_number", "original_line"]).to_pylist() == [
        {"row_number": 6, "original_line": 'P3,"say ""hi""",oops'},
        {"row_number": 7, "original_line": 'P4,"last\nline",bad'},
    ]
    assert quarantined["original"][0].as_py() == [("id", "P3"), ("name", 'say "hi"'),
                                                  ("price", "oops")]


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    data = b"id,name,price\nP1,Mug,1\nP2,Cup,x\n" + b"P3,Tea,2\n" * 5000
    plain = read(write(tmp_path, data, "plain.csv"))
    assert read(write(tmp_path, gzip.compress(data), "looks-plain.csv")) == plain
    # Concatenated gzip members are one file, as gunzip reads them.
    half = data.index(b"P3")
    two_members = gzip.compress(data[:half]) + gzip.compress(data[half:])
    assert read(write(tmp_path, two_members, "members.gz")) == plain


def test_broken_gzip_is_unreadable(tmp_path: Path) -> None:
    data = gzip.compress(b"id,name,price\n" + b"P1,Mug,1\n" * 1000)
    with pytest.raises(UnreadableFileError, match=r"cut\.csv\.gz is not a readable gzip"):
        read(write(tmp_path, data[:-20], "cut.csv.gz"))


ONLY_CSV = "; uploads must be CSV (optionally gzip/bzip2/zstd-compressed)"


@pytest.mark.parametrize("codec", COMPRESS)
def test_bzip2_and_zstd_are_detected_by_content_like_gzip(tmp_path: Path, codec: str) -> None:
    compress = COMPRESS[codec]
    data = b"id,name,price\nP1,Mug,1\nP2,Cup,x\n" + b"P3,Tea,2\n" * 5000
    plain = read(write(tmp_path, data, "plain.csv"))
    assert read(write(tmp_path, compress(data), "looks-plain.csv")) == plain
    # Concatenated streams are one file, as the command-line tools read them.
    half = data.index(b"P3")
    assert read(write(tmp_path, compress(data[:half]) + compress(data[half:]), "parts")) == plain


@pytest.mark.parametrize("name", ["export.csv.gz", "export.csv.bz2", "export.csv.zst"])
def test_a_plain_csv_is_read_as_csv_whatever_its_name(tmp_path: Path, name: str) -> None:
    data = b"id,name,price\nP1,Mug,1\nP2,Cup,x\n"
    assert read(write(tmp_path, data, name)) == read(write(tmp_path, data, "export.csv"))


def test_a_header_that_starts_like_the_bzip2_magic_is_plain_csv(tmp_path: Path) -> None:
    landed, _ = read(write(tmp_path, b"BZh9,id,price\nx,P1,1\n"))
    assert landed["product_id"].to_pylist() == ["P1"]


# zstd frames carry no checksum unless the writer asks for one: a corrupted zstd body
# decompresses to wrong bytes, whose rows are quarantined one by one.
BROKEN = [(codec, damage) for codec in COMPRESS for damage in ("truncated", "trailing", "corrupted")
          if (codec, damage) != ("zstd", "corrupted")]


@pytest.mark.parametrize(("codec", "damage"), BROKEN)
def test_a_broken_compressed_stream_is_unreadable(tmp_path: Path, codec: str,
                                                  damage: str) -> None:
    data = COMPRESS[codec](b"id,name,price\n" + b"".join(b"P%d,Mug,%d\n" % (i, i)
                                                         for i in range(20_000)))
    if damage == "truncated":
        data = data[:-20]
    elif damage == "trailing":
        data += b"not compressed"
    else:
        middle = len(data) // 2
        data = data[:middle] + bytes(b ^ 0x55 for b in data[middle:middle + 64]) + \
            data[middle + 64:]
    with pytest.raises(UnreadableFileError,
                       match=rf"^cut\.csv is not a readable {codec} file \(.+\)$"):
        read(write(tmp_path, data, "cut.csv"))


CSV = b"id,name,price\n" + b"P1,Mug,1\n" * 2000


@pytest.mark.parametrize(("data", "message"), [
    (zip_bytes(CSV), "export.csv is a zip archive" + ONLY_CSV),
    (parquet_bytes(), "export.csv is a Parquet file" + ONLY_CSV),
    (bytes(range(256)) * 64, "export.csv is binary data, not CSV text" + ONLY_CSV),
    (gzip.compress(parquet_bytes()), "export.csv is gzip-compressed, but holds a Parquet file"
     + ONLY_CSV),
    (bz2.compress(gzip.compress(CSV)), "export.csv is bzip2-compressed, but holds "
     "gzip-compressed data" + ONLY_CSV),
    (CSV.decode().encode("utf-16"), "export.csv is UTF-16 text; uploads must be CSV in an "
     "ASCII-compatible encoding such as UTF-8"),
], ids=["zip", "parquet", "binary", "parquet-in-gzip", "gzip-in-bzip2", "utf-16"])
def test_a_file_that_is_not_csv_is_unreadable_with_a_short_message(
        tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(UnreadableFileError) as raised:
        read(write(tmp_path, data, "export.csv"))
    assert str(raised.value) == message
    assert count_records(io.BytesIO(data), PRODUCTS) == 0


def test_a_header_of_garbage_is_quoted_briefly(tmp_path: Path) -> None:
    garbage = bytes(range(0x80, 0x100)) * 64 + b"," + b"x" * 5000 + b"\n"
    with pytest.raises(MissingColumnsError) as raised:
        read(write(tmp_path, garbage * 2 + b",".join(b"c%d" % i for i in range(1000))))
    assert len(str(raised.value)) < 500


class _FailingStorage(io.RawIOBase):
    """A stream whose storage fails after `good` bytes, as a dropped connection does."""

    def __init__(self, data: bytes, good: int) -> None:
        self._data = io.BytesIO(data)
        self._good = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._data.tell() >= self._good:
            raise OSError("storage is down")
        return self._data.read(min(size, 4096) if size > 0 else 4096)


@pytest.mark.parametrize("codec", [None, *COMPRESS])
def test_a_storage_failure_is_raised_not_taken_for_a_broken_file(codec: str | None) -> None:
    data = b"id,name,price\n" + b"".join(b"P%d,Mug %d,%d\n" % (i, i * 7919 % 1013, i)
                                         for i in range(200_000))
    data = COMPRESS[codec](data) if codec else data
    with pytest.raises(OSError, match="storage is down"):
        list(read_batch_file(_FailingStorage(data, len(data) // 2), PRODUCTS))


@pytest.mark.parametrize("compress", [False, True])
def test_block_boundaries_do_not_matter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        compress: bool) -> None:
    """Blocks that split a CRLF, a BOM or a multi-byte character read like one block."""
    data = ("\ufeffid,name,price\r\nP1,Café,1\r\nP2,\"a\r\nb\",2\rP3,Tea,3\n").encode()
    path = write(tmp_path, gzip.compress(data) if compress else data)
    whole = read(path)
    assert whole[0]["source_row"].to_pylist() == [2, 3, 5]
    for block in (1, 2, 3, 5, 8):
        monkeypatch.setattr(reader, "_BLOCK", block)
        assert read(path) == whole


class _Trickle(io.RawIOBase):
    """A stream that returns one byte per read, as a slow network stream may."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(1 if size else 0)


@pytest.mark.parametrize("compress", [False, True])
def test_short_reads(compress: bool) -> None:
    data = b"\xef\xbb\xbfid,name,price\nP1,Mug,1\n"
    stream = _Trickle(gzip.compress(data) if compress else data)
    chunks = list(read_batch_file(stream, PRODUCTS))  # type: ignore[arg-type]
    assert [c.landed["product_id"].to_pylist() for c in chunks] == [["P1"]]


def test_any_binary_stream_is_accepted() -> None:
    data = gzip.compress(b"id,name,price\nP1,Mug,1\n")
    for stream in (io.BytesIO(data), pa.BufferReader(data), pa.input_stream(pa.py_buffer(data))):
        chunks = list(read_batch_file(stream, PRODUCTS))
        assert [c.landed["product_id"].to_pylist() for c in chunks] == [["P1"]]


def test_missing_required_columns_fail_before_any_chunk(tmp_path: Path) -> None:
    path = write(tmp_path, b"order,qty,sku\n1,2,3\n", "orders.csv")
    with path.open("rb") as stream, pytest.raises(MissingColumnsError) as raised:
        read_batch_file(stream, ORDERS, name=path.name)
    assert raised.value.missing == ["product", "price", "at"]
    assert str(raised.value) == ("orders.csv lacks required columns: product, price, at "
                                 "(found: order, qty, sku)")


def test_a_file_without_header_lacks_the_columns(tmp_path: Path) -> None:
    with pytest.raises(MissingColumnsError, match="found: P1, Mug, 1"):
        read(write(tmp_path, b"P1,Mug,1\nP2,Cup,2\n"))


def test_mapped_optional_columns_may_be_absent(tmp_path: Path) -> None:
    landed, _ = read(write(tmp_path, b"id,price\nP1,1\n"))
    assert landed["name"].to_pylist() == [None]


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", gzip.compress(b"")])
def test_empty_file_is_unreadable(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UnreadableFileError, match=r"empty\.csv is empty: expected a header row"):
        read(write(tmp_path, data, "empty.csv"))


def test_blank_first_line_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="first line is empty"):
        read(write(tmp_path, b"\nid,name,price\n"))


def test_duplicate_header_names_are_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="repeats column names: 'name'"):
        read(write(tmp_path, b"id,name,price,name\nP1,a,1,b\n"))


WIDE = [b"c%d" % i for i in range(200_000)]


@pytest.mark.parametrize(("header", "outcome"), [
    (b",".join([b"id", b"name", b"price", *WIDE, b"c7"]),
     "export.csv: the header repeats column names: 'c7'"),
    (b",".join([b"id", b"name", b"price", *WIDE, *WIDE]),
     "export.csv: the header repeats column names: 'c0', 'c1', 'c10', "),
    (b",".join([b"sku", b"name", b"price", *WIDE]),
     "export.csv lacks required columns: id (found: sku, name, price, c0, "),
    (b",".join([b"id", b"name", b"price", *WIDE]), None),
], ids=["one-repeated", "all-repeated", "missing", "accepted"])
def test_a_header_of_200000_columns_is_checked_in_linear_time(
        tmp_path: Path, header: bytes, outcome: str | None) -> None:
    """Finding repeated names counted every name in the whole header once per column:
    100,000 columns took 346 s, and 200,000 would take about 25 minutes."""
    path = write(tmp_path, header + b"\nP1,Mug,1" + b",x" * (header.count(b",") - 2) + b"\n")
    if outcome is None:
        landed, quarantined = read(path)
        assert landed["product_id"].to_pylist() == ["P1"] and quarantined.num_rows == 0
        return
    with pytest.raises(UnreadableFileError) as raised:
        read(path)
    assert str(raised.value).startswith(outcome)
    assert len(str(raised.value)) < 1000  # names a few columns, not 200,000


def test_header_only_yields_no_rows(tmp_path: Path) -> None:
    landed, quarantined = read(write(tmp_path, b"id,name,price\r\n"))
    assert (landed.num_rows, quarantined.num_rows) == (0, 0)


def test_header_names_are_trimmed(tmp_path: Path) -> None:
    landed, _ = read(write(tmp_path, b" id , name,price \nP1,Mug,1\n"))
    assert landed["name"].to_pylist() == ["Mug"]


def test_blank_lines_are_not_records(tmp_path: Path) -> None:
    landed, quarantined = read(write(tmp_path, b"id,name,price\n\nP1,Mug,1\n\r\nP2,Cup,2\n\n\n"))
    assert landed["source_row"].to_pylist() == [3, 5]
    assert quarantined.num_rows == 0


def test_wrong_field_counts_are_quarantined(tmp_path: Path) -> None:
    landed, quarantined = read(write(tmp_path, b"id,name,price\nP1,Mug\nP2,Cup,2,extra\nP3,a,1"))
    assert landed["product_id"].to_pylist() == ["P3"]
    assert quarantined.to_pylist() == [
        {"row_number": 2, "reason": "wrong_column_count", "field": None,
         "detail": "expected 3 fields like the header, found 2", "original_line": "P1,Mug",
         "original": None},
        {"row_number": 3, "reason": "wrong_column_count", "field": None,
         "detail": "expected 3 fields like the header, found 4",
         "original_line": "P2,Cup,2,extra", "original": None},
    ]


def test_record_the_csv_module_rejects_is_quarantined(tmp_path: Path) -> None:
    huge = b"x" * (csv.field_size_limit() + 1)
    landed, quarantined = read(write(tmp_path, b"id,name,price\nP1," + huge + b",1\nP2,Cup,2\n"))
    assert landed["source_row"].to_pylist() == [3]
    row = quarantined.to_pylist()[0]
    assert (row["row_number"], row["reason"]) == (2, "wrong_column_count")
    assert "not valid CSV" in row["detail"]


def test_unterminated_quote_swallows_the_rest_as_one_record(tmp_path: Path) -> None:
    landed, quarantined = read(write(tmp_path, b'id,name,price\nP1,"Mug,1\nP2,Cup,2\n'))
    assert landed.num_rows == 0
    assert quarantined.select(["row_number", "reason", "original_line"]).to_pylist() == [
        {"row_number": 2, "reason": "wrong_column_count", "original_line": 'P1,"Mug,1\nP2,Cup,2'},
    ]


def test_semicolon_delimiter_and_single_quote(tmp_path: Path) -> None:
    mapping = load_mapping_text("""
dataset = "products"
csv = { delimiter = ";", quote = "'" }
[columns]
product_id = "id"
name = "name"
""", "semicolon.toml")
    landed, _ = read(write(tmp_path, b"id;name\nP1;'a;b'\n"), mapping)
    assert landed["name"].to_pylist() == ["a;b"]


def test_chunks_give_the_same_rows_as_one_chunk(tmp_path: Path) -> None:
    data = (b"order,product,qty,price,at\n"
            b"A,p1,1,1.5,2026-09-01T10:00:00Z\n"
            b"B,p1,1,1.5,2026-09-01T10:00:00Z\n"
            b"A,p2,x,1.5,2026-09-01T10:00:00Z\n"
            b'A,"p\n3",1,1.5,2026-09-01T10:00:00Z\n'
            b"C,p1\n"
            b"\n"
            b"B,p4,2,2,2026-09-01T10:00:00Z\n"
            b"A,p5,3,3,2026-09-01T10:00:00Z\n")
    path = write(tmp_path, data)
    whole = read(path, ORDERS)
    for chunk_rows in (1, 2, 3):
        assert read(path, ORDERS, chunk_rows=chunk_rows) == whole
    landed, quarantined = whole
    assert landed.select(["order_id", "line_number", "source_row"]).to_pylist() == [
        {"order_id": "A", "line_number": 1, "source_row": 2},
        {"order_id": "B", "line_number": 1, "source_row": 3},
        {"order_id": "A", "line_number": 3, "source_row": 5},
        {"order_id": "B", "line_number": 2, "source_row": 9},
        {"order_id": "A", "line_number": 4, "source_row": 10},
    ]
    assert quarantined.select(["row_number", "reason"]).to_pylist() == [
        {"row_number": 4, "reason": "bad_number"},
        {"row_number": 7, "reason": "wrong_column_count"},
    ]


def test_a_chunk_closes_when_its_lines_weigh_chunk_bytes(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks were bounded by records only (100,000 of lines up to 16 MiB each): long rows
    now close a chunk once its lines weigh CHUNK_BYTES, and the file reads the same (row
    numbers, position-based line numbers, quarantined text) as in one chunk."""
    long = b"p" * 1000
    data = (b"order,product,qty,price,at\n"
            + b"".join(b"%s,%s%d,%s,1.5,2026-09-01T10:00:00Z\n"
                       % (b"AB"[i % 2:i % 2 + 1], long, i, b"x" if i % 7 == 0 else b"1")
                       for i in range(30))
            + b'A,"p\n' + long + b'",1,1.5,2026-09-01T10:00:00Z\n'
            + b"\n"
            + b"C," + long + b"\n"
            + b"B,p," + b"9" * (csv.field_size_limit() + 1) + b",1,2026-09-01T10:00:00Z\n"
            + b"B,p4,2,2,2026-09-01T10:00:00Z\n")
    path = write(tmp_path, data)
    whole = read(path, ORDERS)
    assert whole[0].num_rows == 27 and whole[1].num_rows == 7
    for budget, most in ((4000, 4), (2500, 3), (1, 1)):
        monkeypatch.setattr(reader, "CHUNK_BYTES", budget)
        with path.open("rb") as stream:
            chunks = list(read_batch_file(stream, ORDERS))
        sizes = [c.landed.num_rows + c.quarantined.num_rows for c in chunks]
        assert sum(sizes) == 34 and len(chunks) > 1 and max(sizes) <= most
        assert read(path, ORDERS) == whole


def test_each_field_weighs_besides_its_bytes(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A line of short fields takes many times its bytes in memory (an object per field),
    so it weighs FIELD_BYTES a delimiter: 2 KB lines of 700 fields fill a chunk alone,
    while short lines of three fields share one."""
    data = b"id,name,price\n" + (b"P1," + b"ab," * 700 + b"1\n") * 6 + b"P2,Mug,1\n" * 6
    path = write(tmp_path, data)
    whole = read(path)
    monkeypatch.setattr(reader, "CHUNK_BYTES", 10_000)
    with path.open("rb") as stream:
        chunks = list(read_batch_file(stream, PRODUCTS))
    assert [c.landed.num_rows + c.quarantined.num_rows for c in chunks] == [1] * 6 + [6]
    assert read(path) == whole


def test_chunk_rows_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunk_rows"):
        read(write(tmp_path, b"id,name,price\n"), chunk_rows=0)


def test_count_records_of_a_rejected_file_as_the_reader_counts_them() -> None:
    data = gzip.compress(b"\xef\xbb\xbfid,name\r\nP1,\"Caf\xe9\r\nau lait\"\r\n\r\nP2,x\r\n")
    assert count_records(io.BytesIO(data), PRODUCTS) == 2


def test_count_records_stops_at_a_broken_gzip_stream() -> None:
    data = gzip.compress(b"id,name\n" + b"P1,x\n" * 1000)
    assert 0 <= count_records(io.BytesIO(data[: len(data) // 2]), PRODUCTS) < 1000


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
ROUND_TRIP = load_mapping_text("""
dataset = "products"
csv = { trim = false }
[columns]
product_id = "id"
name = "name"
unit_price = "price"
""", "roundtrip.toml")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(_TEXT, max_size=6), terminator=st.sampled_from(["\n", "\r\n"]))
def test_any_field_contents_round_trip(names: list[str], terminator: str) -> None:
    """Whatever csv.writer writes (delimiters, quotes, line breaks) comes back exactly:
    values of landed rows, and the original text of quarantined ones (odd rows)."""
    if terminator == "\n":  # csv.writer quotes only the terminator's characters
        names = [name.replace("\r", "") for name in names]
    records = [(f"P{i}", name, "x" if i % 2 else "1") for i, name in enumerate(names)]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=terminator)
    writer.writerow(["id", "name", "price"])
    expected = {}
    line = 2
    for record in records:
        start = out.tell()
        writer.writerow(record)
        text = out.getvalue()[start:].removesuffix(terminator)
        expected[line] = (record, text)
        line += len(text.encode().splitlines())
    chunks = list(read_batch_file(io.BytesIO(out.getvalue().encode()), ROUND_TRIP, chunk_rows=2))
    for row in pa.concat_tables(c.landed for c in chunks).to_pylist() if chunks else []:
        (product, name, _), _ = expected.pop(row["source_row"])
        assert (row["product_id"], row["name"]) == (product, name if name.strip() else None)
    for row in pa.concat_tables(c.quarantined for c in chunks).to_pylist() if chunks else []:
        record, text = expected.pop(row["row_number"])
        assert row["reason"] == "bad_decimal"
        assert row["original"] == list(zip(["id", "name", "price"], record, strict=True))
        assert row["original_line"] == text
    assert not expected
