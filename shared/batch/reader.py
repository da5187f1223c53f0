"""Robust, streaming reading of an uploaded CSV export through its mapping.

Bytes are read a block at a time (decompressed when they start with the gzip, bzip2 or
zstd magic, whatever the file is called; refused when they are plainly something other
than CSV text, such as a zip archive or a Parquet file), split into physical lines,
decoded line by line and handed to Python's csv module, which deals with quoting and with
delimiters and newlines inside quoted fields. Which lines each record consumed is recorded,
so a quarantined row can be quoted exactly.

Memory is bounded by one chunk of records, however large the file: at most `chunk_rows`
records, and fewer once their lines weigh CHUNK_BYTES (their bytes, and FIELD_BYTES for each
delimiter, as every field is an object of its own), but at least one record, whose lines are
at most MAX_LINE_BYTES each. The reader holds no chunk but the one it is reading.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from shared.batch.convert import ConvertedChunk, Converter, RawChunk
from shared.batch.mapping import Mapping
from shared.batch.options import CsvOptions

__all__ = ["ConvertedChunk", "MissingColumnsError", "UnreadableFileError", "count_records",
           "read_batch_file"]

_BLOCK = 1 << 20
CHUNK_BYTES = 32 << 20
"""What the lines of a chunk's records may weigh: a chunk closes after the record whose
lines pass it (so it holds at least one record), as well as after `chunk_rows` records. A
chunk's Python objects take two to three times its weight, whatever its fields."""
FIELD_BYTES = 32
"""What each delimiter adds to its line's weight: every field becomes a string object of its
own (some 50 bytes besides its text, unless it is empty or one character), so a line of many
short fields takes many times its bytes in memory."""
MAX_LINE_BYTES = 16 << 20
"""Longest physical line read: far beyond any record (the csv module's field limit is
128 KiB), and it bounds what one line can take of memory."""
_SNIFF = 1 << 16
"""Bytes looked at to tell what a file holds (its magic bytes, a binary first line)."""
_ONLY_CSV = "uploads must be CSV (optionally gzip/bzip2/zstd-compressed)"
# A bzip2 stream: "BZh", the block size, then a block's or the end-of-stream's magic (so
# that a CSV header starting "BZh" is not taken for one).
_BZIP2 = re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)")
_ZSTD = b"\x28\xb5\x2f\xfd"
_GZIP = b"\x1f\x8b"
# Files people upload by mistake, known by their first bytes, so the message can say what
# the file is instead of quoting its bytes as a header.
_NOT_CSV = {
    b"PK\x03\x04": "a zip archive",
    b"PK\x05\x06": "a zip archive",
    b"PAR1": "a Parquet file",
    b"\xfd7zXZ\x00": "an xz-compressed file",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "an Excel 97-2003 workbook",
    b"%PDF-": "a PDF document",
    b"ARROW1": "an Arrow IPC file",
}
_UTF16 = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class UnreadableFileError(ValueError):
    """The file as a whole cannot be ingested: not CSV text, a broken compressed stream, no
    header, repeated column names."""


class MissingColumnsError(UnreadableFileError):
    """The header lacks source columns the mapping cannot do without."""

    def __init__(self, name: str, missing: list[str], found: list[str]) -> None:
        self.missing = missing
        """The missing source columns, as the mapping names them."""
        self.found = found
        super().__init__(f"{name} lacks required columns: {', '.join(missing)} "
                         f"(found: {_listed(found)})")


def _listed(names: list[str], most: int = 30, width: int = 40) -> str:
    """Names for a message, briefly: a header of garbage must not fill the ledger."""
    shown = [n if len(n) <= width else f"{n[:width - 1]}…" for n in names[:most]]
    more = [f"… ({len(names) - most} more)"] if len(names) > most else []
    return ", ".join(shown + more)


def read_batch_file(stream: BinaryIO, mapping: Mapping, *, name: str = "file",
                    chunk_rows: int = 100_000) -> Iterator[ConvertedChunk]:
    """The file's records as `mapping.dataset` rows, at most `chunk_rows` records a chunk
    (fewer when their lines weigh CHUNK_BYTES).

    The header is read and checked by this call, so a file that cannot be ingested at
    all fails before any chunk exists; only a broken compressed stream can fail later. Bad
    rows never fail: each chunk's landed plus quarantined rows are its records. Blank
    lines are not records. `name` is only used in messages.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    lines = _Lines(_blocks(stream, name), mapping.csv, name)
    records = _Records(lines, mapping)
    header = _header(records, lines, mapping, name)
    return _chunks(records, lines, Converter(mapping, header), chunk_rows)


def _header(records: _Records, lines: _Lines, mapping: Mapping, name: str) -> list[str]:
    header = next(iter(records), None)
    if header is None:
        raise UnreadableFileError(f"{name} is empty: expected a header row")
    if isinstance(header, _Malformed):
        raise UnreadableFileError(f"{name}: the header row is not valid CSV ({header.error})")
    names = [column.strip() for column in header]
    if not any(names):
        raise UnreadableFileError(f"{name}: the first line is empty; expected a header row")
    repeated = sorted(column for column, count in Counter(names).items() if count > 1)
    if repeated:
        raise UnreadableFileError(f"{name}: the header repeats column names: "
                                  f"{_listed(list(map(repr, repeated)))}")
    missing = [column for column in mapping.required_columns() if column not in names]
    if missing:
        raise MissingColumnsError(name, missing, names)
    lines.take()
    return names


def _chunks(records: _Records, lines: _Lines, converter: Converter,
            chunk_rows: int) -> Iterator[ConvertedChunk]:
    while (raw := _raw_chunk(records, lines, chunk_rows)) is not None:
        chunk = converter.convert(raw)
        del raw  # so that the next chunk is read without this one's records and lines
        yield chunk


def _raw_chunk(records: _Records, lines: _Lines, limit: int) -> RawChunk | None:
    """The next (up to) `limit` records, with the physical lines each one spans; fewer when
    their lines pass CHUNK_BYTES."""
    first_line = lines.first
    errors = records.errors
    batch = _take(records, lines, limit)
    if not batch:
        return None
    if records.errors == errors and records.reader.line_num - first_line + 1 == len(batch):
        ends = np.arange(first_line, first_line + len(batch), dtype=np.int64)
    else:
        ends = _ends(batch, first_line)
    rows = np.concatenate([[first_line], ends[:-1] + 1])
    if [] in batch:  # blank lines are not records
        keep = np.array([bool(fields) for fields in batch])
        batch = [fields for fields in batch if fields]
        rows, ends = rows[keep], ends[keep]
    malformed = {i: fields.error for i, fields in enumerate(batch)
                 if isinstance(fields, _Malformed)} if records.errors != errors else {}
    undecodable = lines.undecodable_records(rows, ends)
    return RawChunk([None if i in malformed else fields for i, fields in enumerate(batch)]
                    if malformed else batch,
                    rows, ends, lines.take(), first_line, malformed, undecodable)


def _take(records: _Records, lines: _Lines, limit: int) -> list[list[str] | _Malformed]:
    """Up to `limit` records, up to and including the one whose lines pass CHUNK_BYTES (the
    lines kept when a record comes out are those of the chunk's records so far)."""
    batch: list[list[str] | _Malformed] = []
    append = batch.append
    budget = CHUNK_BYTES
    for fields in islice(records, limit):
        append(fields)
        if lines.weight >= budget:
            break
    return batch


def _ends(batch: list[list[str] | _Malformed], first_line: int) -> np.ndarray:
    """The physical line each record ends on, when some span several lines.

    A record spans one line more than the line breaks kept inside its quoted fields
    (CRLF counting once, as when the lines were split); a malformed record knows where
    the csv module gave up on it.
    """
    ends = np.empty(len(batch), dtype=np.int64)
    end = first_line - 1
    for i, fields in enumerate(batch):
        if isinstance(fields, _Malformed):
            end = fields.end
        else:
            end += 1 + sum(f.count("\n") + f.count("\r") - f.count("\r\n") for f in fields
                           if "\n" in f or "\r" in f)
        ends[i] = end
    return ends


@dataclass(frozen=True)
class _Malformed:
    """A record the csv module rejected (such as a field over its size limit)."""

    error: str
    end: int


class _Records:
    """The file's records as the csv module splits them; a malformed record does not stop
    the iteration but comes out as `_Malformed`."""

    def __init__(self, lines: _Lines, mapping: Mapping) -> None:
        self.reader = csv.reader(lines, delimiter=mapping.csv.delimiter,
                                 quotechar=mapping.csv.quote, strict=False)
        self.errors = 0
        self._records = self._iterate()

    def __iter__(self) -> Iterator[list[str] | _Malformed]:
        return self._records

    def _iterate(self) -> Iterator[list[str] | _Malformed]:
        while True:
            try:
                yield from self.reader
                return
            except csv.Error as error:
                self.errors += 1
                yield _Malformed(str(error), self.reader.line_num)


class _Lines:
    """The file's physical lines, decoded, kept until the chunk they belong to is built.

    The csv module reads exactly the lines of the record it returns, never ahead, so
    the lines kept when a chunk is complete are exactly that chunk's.
    """

    def __init__(self, blocks: Iterator[bytes], options: CsvOptions, name: str) -> None:
        self.first = 1
        """Physical number of the first kept line."""
        self.weight = 0
        """What the kept lines weigh: their bytes, and FIELD_BYTES a delimiter."""
        self._kept: list[str] = []
        self._undecodable: dict[int, str] = {}
        self._lines = self._decoded(_split_lines(blocks, name), options)

    def __iter__(self) -> Iterator[str]:
        return self._lines

    def _decoded(self, lines: Iterator[bytes], options: CsvOptions) -> Iterator[str]:
        encoding, delimiter, field_bytes = options.encoding, options.delimiter, FIELD_BYTES
        keep = self._kept.append
        for number, line in enumerate(lines, start=1):
            try:
                text = line.decode(encoding)
            except UnicodeDecodeError as error:
                text = line.decode(encoding, errors="replace")
                bad = error.object[error.start:error.end].hex(" ")
                self._undecodable[number] = (
                    f"line {number} has bytes that are not valid {encoding} ({bad}); "
                    "original_line shows undecodable bytes as U+FFFD replacement characters")
            keep(text)
            self.weight += len(line) + field_bytes * text.count(delimiter)
            yield text

    def take(self) -> list[str]:
        """The lines read and not yet taken, which `first` then moves past."""
        kept = self._kept[:]
        self._kept.clear()
        self.weight = 0
        self.first += len(kept)
        return kept

    def undecodable_records(self, rows: np.ndarray, ends: np.ndarray) -> dict[int, str]:
        """Record index -> the first undecodable line among the lines it spans."""
        found: dict[int, str] = {}
        for number, detail in self._undecodable.items():
            i = int(np.searchsorted(rows, number, side="right")) - 1
            if i >= 0 and number <= ends[i]:
                found.setdefault(i, detail)
        self._undecodable.clear()
        return found


def count_records(stream: BinaryIO, mapping: Mapping, *, name: str = "file") -> int:
    """Data records in a file that is rejected whole, so its rows are still accounted for.

    Counts as the reader would (the mapping's delimiter and quote, blank lines skipped,
    undecodable bytes tolerated); a broken compressed stream counts the records before the
    break, and a file that is not CSV text at all (a zip archive, say) counts none.
    """
    lines = (line.decode(mapping.csv.encoding, errors="replace")
             for line in _split_lines(_blocks(stream, name), name))
    rows = csv.reader(lines, delimiter=mapping.csv.delimiter, quotechar=mapping.csv.quote)
    records = 0
    try:
        for row in rows:
            records += bool(row)
    except (UnreadableFileError, csv.Error):
        pass
    return max(records - 1, 0)  # the header


def _split_lines(blocks: Iterator[bytes], name: str) -> Iterator[bytes]:
    """Physical lines with their terminators: LF, CRLF or a lone CR, as the csv module
    sees them (the encodings allowed keep these bytes for these characters only).

    A UTF-8 byte order mark before the first line is dropped, whatever the encoding. A
    line is held whole until it ends, so one longer than MAX_LINE_BYTES makes the file
    unreadable (a decompression bomb without line breaks would otherwise fill memory).
    """
    pending: list[bytes] = []  # the start of a line still to end, in pieces
    pending_bytes = 0
    number = 1
    first = True
    blocks = iter(blocks)
    while True:
        try:
            block = next(blocks)
        except StopIteration:
            break
        except UnreadableFileError:
            # A broken compressed stream: its partial last line is read (a record, as the
            # csv module sees it) before the break is raised.
            yield from _last_line(pending, first)
            raise
        if b"\n" not in block and b"\r" not in block:
            pending.append(block)
            pending_bytes += len(block)
            if pending_bytes > MAX_LINE_BYTES:
                raise UnreadableFileError(
                    f"{name}: line {number} is longer than {MAX_LINE_BYTES >> 20} MiB: not a "
                    "CSV export (no record is that long)")
            continue
        lines = b"".join([*pending, block]).splitlines(keepends=True)
        rest = lines.pop()  # maybe incomplete, or a CR before an LF
        pending, pending_bytes = [rest], len(rest)
        if first and lines:
            lines[0], first = lines[0].removeprefix(codecs.BOM_UTF8), False
        number += len(lines)
        yield from lines
    yield from _last_line(pending, first)


def _last_line(pending: list[bytes], first: bool) -> Iterator[bytes]:
    """The last line, without a terminator, if there is one."""
    rest = b"".join(pending)
    if first:
        rest = rest.removeprefix(codecs.BOM_UTF8)
    if rest:
        yield rest


def _blocks(stream: BinaryIO, name: str) -> Iterator[bytes]:
    """The file's bytes, decompressed when their magic says gzip, bzip2 or zstd.

    Only what the bytes are counts, never the file's name. Content that is plainly not CSV
    text is refused before anything is read as CSV.
    """
    source = _Source(stream)
    codec = _codec(source.peek(_SNIFF))
    if codec is None:
        blocks: Iterator[bytes] = iter(lambda: source.read(_BLOCK), b"")
    else:
        blocks = _decompressed(source, codec, name)
    head = b""
    broken: UnreadableFileError | None = None
    try:
        for block in blocks:
            head += block
            if len(head) >= _SNIFF:
                break
    except UnreadableFileError as error:  # what decompressed before the break is read first
        broken = error
    _refuse_non_csv(head, name, codec)
    if head:
        yield head
    if broken is not None:
        raise broken
    yield from blocks


def _codec(head: bytes) -> str | None:
    if head.startswith(_GZIP):
        return "gzip"
    if _BZIP2.match(head):
        return "bzip2"
    if head.startswith(_ZSTD):
        return "zstd"
    return None


def _refuse_non_csv(head: bytes, name: str, codec: str | None) -> None:
    """Raise a short message naming what the content is, when it is plainly not CSV text."""
    kind = _not_csv(head)
    if kind is None:
        return
    advice = ("uploads must be CSV in an ASCII-compatible encoding such as UTF-8"
              if kind == "UTF-16 text" else _ONLY_CSV)
    what = f"is {codec}-compressed, but holds {kind}" if codec else f"is {kind}"
    raise UnreadableFileError(f"{name} {what}; {advice}")


def _not_csv(head: bytes) -> str | None:
    """What content starting with `head` is, when it is plainly not CSV text."""
    if (inner := _codec(head)) is not None:
        return f"{inner}-compressed data"
    if head.startswith(_UTF16):
        return "UTF-16 text"
    for magic, what in _NOT_CSV.items():
        if head.startswith(magic):
            return what
    # No header line of a CSV file holds a NUL byte; binary files nearly always do.
    if b"\x00" in head.partition(b"\n")[0].partition(b"\r")[0]:
        return "binary data, not CSV text"
    return None


def _decompressed(source: _Source, codec: str, name: str) -> Iterator[bytes]:
    """The decompressed bytes, a block at a time; a broken stream is an unreadable file
    (what decompressed before the break has been yielded), a failing storage is not."""
    read: Callable[[int], bytes]
    if codec == "gzip":  # as gunzip reads: members one after another, zero padding allowed
        read = gzip.GzipFile(fileobj=source, mode="rb").read1
    else:
        # Arrow, unlike Python's BZ2File, refuses bytes after the last bzip2 stream rather
        # than dropping them; and Python 3.11 has no zstd.
        arrow_codec = {"bzip2": "bz2", "zstd": "zstd"}[codec]
        read = pa.CompressedInputStream(pa.PythonFile(source, mode="r"), arrow_codec).read
    while True:
        try:
            block = read(_BLOCK)
        except (EOFError, OSError, zlib.error) as error:
            if source.failure is not None:
                raise  # the storage failed, not the file: the caller retries
            raise UnreadableFileError(f"{name} is not a readable {codec} file ({error})") from None
        if not block:
            return
        yield block


class _Source(io.RawIOBase):
    """The file's stream, whose first bytes can be looked at before they are read, and
    which remembers a failure of the stream itself (decompressors raise OSError for a
    broken file as well as for a failing storage)."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self._head = b""
        self.failure: Exception | None = None

    def readable(self) -> bool:
        return True

    def peek(self, size: int) -> bytes:
        """The first `size` bytes (fewer only when the file is shorter), still to be read."""
        while len(self._head) < size and (more := self._read(size - len(self._head))):
            self._head += more
        return self._head

    def read(self, size: int | None = -1) -> bytes:
        if not self._head:
            return self._read(size)
        if size is None or size < 0:
            data, self._head = self._head + self._read(-1), b""
        else:
            data, self._head = self._head[:size], self._head[size:]
        return data

    def _read(self, size: int | None) -> bytes:
        try:
            return self._stream.read(size)
        except Exception as error:
            self.failure = error
            raise
