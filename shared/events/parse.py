"""Turn a batch of message bodies into one typed Arrow table, per-row problems kept apart.

The bulk path hands the whole batch to Arrow's JSON reader in one call. That reader is all
or nothing, so a batch with a malformed body takes the tolerant path: structural problems
(empty bodies, non-objects, bad UTF-8) are screened with cheap byte checks, then the reader
runs again and, each time it stops, its error names the row; that row is checked on its
own, blanked, and the rest is read on. A batch with k bad bodies costs about two bulk reads
and k reader calls, and every value comes from the same reader whichever path a row took.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pajson

from shared.events.contract import PARSE_SCHEMA

_PARSE_OPTIONS = pajson.ParseOptions(
    explicit_schema=PARSE_SCHEMA, unexpected_field_behavior="ignore", newlines_in_values=False
)
_NULL_ROW = pa.Table.from_pylist([{}], schema=PARSE_SCHEMA)
_ERROR_ROW = re.compile(r" in row (?P<row>\d+)$")
_COLUMN_PROBLEM = re.compile(r"^Column\(/?(?P<field>[^)]*)\) (?P<what>.*)$")

Problem = tuple[str, str | None, str]  # reason, field or None, detail


@dataclass
class ParsedBatch:
    """Parsed contract fields for every body (rows that failed parsing are all null)."""

    table: pa.Table
    problems: dict[int, Problem] = field(default_factory=dict)
    """Row index → (reason, field or None, detail) for rows that failed parsing."""
    path: str = "bulk"


def parse_bodies(bodies: list[bytes], skip: np.ndarray | None = None) -> ParsedBatch:
    """Parse `bodies`; rows where `skip` is true (already rejected) become all-null rows."""
    if skip is not None and skip.any():
        bodies = [b"{}" if s else b for b, s in zip(bodies, skip, strict=True)]
    if not bodies:
        return ParsedBatch(PARSE_SCHEMA.empty_table())
    joined = b"\n".join(bodies)
    if not _one_object_per_line(joined, len(bodies)):
        problems: dict[int, Problem] = {}
        lines = [_screen(row, body, problems) for row, body in enumerate(bodies)]
        return ParsedBatch(_peel(lines, problems), problems, path="tolerant")
    try:
        table = _read_joined(joined)
    except pa.ArrowInvalid as error:
        problems = {}
        return ParsedBatch(_peel(list(bodies), problems, error), problems, path="tolerant")
    if table.num_rows != len(bodies):  # a line held several values
        problems = {}
        return ParsedBatch(_one_by_one(list(bodies), problems), problems, path="tolerant")
    return ParsedBatch(table)


def _read(lines: list[bytes]) -> pa.Table:
    return _read_joined(b"\n".join(lines))


def _read_joined(data: bytes) -> pa.Table:
    # One block for the whole input, so the row an error names counts from the first line.
    options = pajson.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 16))
    return pajson.read_json(io.BytesIO(data), read_options=options, parse_options=_PARSE_OPTIONS)


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _one_object_per_line(joined: bytes, count: int) -> bool:
    """Whether the reader will see `count` lines, each starting an object, in UTF-8.

    Only then do its rows line up with the bodies: it would skip an empty line, read `null`
    as an empty object, and it does not check UTF-8 inside strings.
    """
    if joined[:1] != b"{" or joined.endswith(b"\n") or b"\r" in joined:
        return False
    data = np.frombuffer(joined, dtype=np.uint8)
    newlines = np.flatnonzero(data == ord("\n"))
    return (newlines.size == count - 1 and bool((data[newlines + 1] == ord("{")).all())
            and _utf8(joined))


def _screen(row: int, body: bytes, problems: dict[int, Problem]) -> bytes:
    """The body as one reader line, or `{}` after recording why it cannot be one."""
    if not _utf8(body):
        problems[row] = ("bad_json", None, "body is not UTF-8")
        return b"{}"
    if b"\n" in body or b"\r" in body:
        # Valid JSON has newlines only as whitespace; the reader needs one line per body.
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as error:
            problems[row] = ("bad_json", None, f"body is not valid JSON: {error}")
            return b"{}"
        body = body.replace(b"\n", b" ").replace(b"\r", b" ")
    start = body.lstrip(b" \t")[:1]
    if start == b"{":
        return body
    if not start:
        problems[row] = ("bad_json", None, "body is empty")
        return b"{}"
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        problems[row] = ("bad_json", None, f"body is not valid JSON: {error}")
    else:
        problems[row] = ("not_an_object", None,
                         f"body is a JSON {type(value).__name__}, not an object")
    return b"{}"


def _peel(lines: list[bytes], problems: dict[int, Problem],
          first_error: pa.ArrowInvalid | None = None) -> pa.Table:
    """Find the rows the reader refuses, one per failed read (a failed read stops at its
    error, so finding them all costs about one read of the batch), then read everything
    with those rows blanked. `first_error` is a failed read of all of `lines`, if done."""
    start = 0
    while start < len(lines):
        try:
            if first_error is not None:
                error, first_error = first_error, None
                raise error
            table = _read(lines[start:])
        except pa.ArrowInvalid as error:
            match = _ERROR_ROW.search(str(error))
            row = start + int(match["row"]) if match else len(lines)
            problem = _diagnose(lines[row], str(error)) if row < len(lines) else None
            if problem is None:
                return _one_by_one(lines, problems)
            problems[row] = problem
            lines[row] = b"{}"
            start = row + 1
            continue
        if table.num_rows != len(lines) - start:  # a line held several values
            return _one_by_one(lines, problems)
        if start == 0:
            return table
        break
    try:
        table = _read(lines)
    except pa.ArrowInvalid:
        return _one_by_one(lines, problems)
    return table if table.num_rows == len(lines) else _one_by_one(lines, problems)


def _diagnose(line: bytes, message: str) -> Problem | None:
    """Why `line` failed, or None when the reader's error cannot be about this line.

    The line is checked on its own: a body cut off mid-object lets the reader run on into
    the next line, so the batch error may describe a mixture of both.
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return "bad_json", None, f"body is not valid JSON: {error}"
    problem = _arrow_problem(message)
    if problem[0] == "wrong_type" and isinstance(value, dict):
        got = value.get(problem[1])
        is_string = pa.types.is_string(PARSE_SCHEMA.field(problem[1]).type)
        matches = isinstance(got, str) if is_string else (
            isinstance(got, int | float) and not isinstance(got, bool))
        if got is None or matches:
            return None
    return problem


def _one_by_one(lines: list[bytes], problems: dict[int, Problem]) -> pa.Table:
    """Last resort, for inputs whose errors do not say where: each line alone."""
    parts = []
    for row, line in enumerate(lines):
        try:
            single = _read([line])
            if single.num_rows != 1:
                raise pa.ArrowInvalid("body holds more than one JSON value")
        except pa.ArrowInvalid as error:
            problems[row] = _arrow_problem(str(error))
            single = _NULL_ROW
        parts.append(single)
    return pa.concat_tables(parts)


def _arrow_problem(message: str) -> Problem:
    message = _ERROR_ROW.sub("", message.removeprefix("JSON parse error: ")).rstrip(".")
    column = _COLUMN_PROBLEM.match(message)
    if column is None:
        return "bad_json", None, f"body is not valid JSON: {message}"
    name, what = column["field"], column["what"]
    if not name:
        kind = what.rsplit(" ", 1)[-1]
        return "not_an_object", None, f"body is a JSON {kind}, not an object"
    if what.startswith("changed from") and name in PARSE_SCHEMA.names:
        expected = PARSE_SCHEMA.field(name).type
        wanted = "string" if pa.types.is_string(expected) else "number"
        got = what.rsplit(" ", 1)[-1]
        return "wrong_type", name, f"{name} must be a JSON {wanted}, got a {got}"
    return "bad_json", name, f"{name} {what}"
