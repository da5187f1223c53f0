"""Turn a batch of message bodies into one typed Arrow table, per-row problems kept apart.

What a body is, is decided by strict JSON (RFC 8259 as orjson reads it: UTF-8, no NaN or
Infinity, at most 1,024 levels deep) and a contract key may appear once; the values always
come from Arrow's JSON reader, whichever way a row went.

The reader is fast but all or nothing, and it accepts NaN, Infinity and any depth. So each
body is first classed with a few NumPy passes over the batch: a "plain" body (one line, an
object, UTF-8, no N or I outside strings, nested at most 1,024 deep) is left for the
reader to judge; any other body is screened on its own in Python (orjson, then the types
of its contract fields: a few µs). Then one reader call reads every line, the rejected
ones blanked. Where the reader refuses a plain body, that body is screened and reading
resumes after it: the failed reads together cover the batch once, and one more read takes
it all. Where refusals come more often than one per 128 lines, every plain body is
screened instead. So the cost is linear in the batch whatever its mix: a clean batch is one
reader call; a batch of cut-off bodies adds only their screening; at worst every body is
screened once (about as much again as the reader) and the reader runs a bounded number of
times. Memory is a few times the batch.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pajson

from shared.events.contract import FIELDS, PARSE_SCHEMA

_PARSE_OPTIONS = pajson.ParseOptions(
    explicit_schema=PARSE_SCHEMA, unexpected_field_behavior="ignore", newlines_in_values=False
)
_NULL_ROW = pa.Table.from_pylist([{}], schema=PARSE_SCHEMA)
_BLANK = b"{}"  # what the reader reads for a rejected body: a row of nulls
_ERROR_ROW = re.compile(r" in row (?P<row>\d+)$")
_COLUMN_PROBLEM = re.compile(r"^Column\(/?(?P<field>[^)]*)\) (?P<what>.*)$")

MAX_DEPTH = 1024
"""Deepest nesting of arrays and objects accepted (orjson's limit, so both paths agree)."""

_WHITESPACE = b" \t\n\r"  # JSON's whitespace (bytes.strip would also take \v and \f)
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OVERFLOW = "number is infinity when parsed as double"  # orjson on 1e400: valid JSON
_STRING_OR_NUMBER = re.compile(
    rb'"(?:[^"\\]|\\.)*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?', re.DOTALL)

_NON_JSON_LETTERS = np.zeros(256, dtype=bool)  # outside strings, JSON has no N and no I
_NON_JSON_LETTERS[[ord("N"), ord("I")]] = True
_NESTING = np.zeros(256, dtype=np.int8)
_NESTING[[ord("["), ord("{")]] = 1
_NESTING[[ord("]"), ord("}")]] = -1

# Python types a contract field accepts (JSON null aside); bool is not int here.
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    f.name: (str,) if f.json_type == "string" else (int, float) for f in FIELDS}
_JSON_KINDS: dict[type, str] = {dict: "object", list: "array", str: "string", int: "number",
                                float: "number", bool: "boolean", type(None): "null"}

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
    joined = _Joined(bodies)
    vetted = ~_plain(joined)  # the bodies screened here, not left to the reader
    lines = list(bodies)
    problems: dict[int, Problem] = {}
    for row in np.flatnonzero(vetted).tolist():
        problem, lines[row] = _screen(bodies[row])
        if problem is not None:
            problems[row] = problem
    if len(problems) == len(bodies):  # nothing left to read
        table = pa.table([pa.nulls(len(bodies), f.type) for f in PARSE_SCHEMA],
                         schema=PARSE_SCHEMA)
    else:
        table = _read_lines(_Joined(lines) if vetted.any() else joined, lines, vetted, problems)
    return ParsedBatch(table, problems, "tolerant" if vetted.any() or problems else "bulk")


def string_quotes(data: np.ndarray) -> np.ndarray:
    """Positions of the quotes that open or close JSON strings in `data` (escaped ones left
    out). A byte lies inside a string when an odd number of them come before it."""
    quotes = np.flatnonzero(data == _QUOTE)
    backslashes = np.flatnonzero(data == _BACKSLASH)
    if quotes.size == 0 or backslashes.size == 0:
        return quotes
    # A quote is escaped when a run of an odd number of backslashes ends right before it.
    new_run = np.diff(backslashes, prepend=-2) != 1
    run_start = backslashes[np.maximum.accumulate(
        np.where(new_run, np.arange(backslashes.size), 0))]
    before = np.searchsorted(backslashes, quotes) - 1
    last = np.maximum(before, 0)
    escaped = ((before >= 0) & (backslashes[last] == quotes - 1)
               & ((quotes - run_start[last]) % 2 == 1))
    return quotes[~escaped]


def _read(data: bytes | pa.Buffer) -> pa.Table:
    # One block for the whole input, so the row an error names counts from the first line.
    options = pajson.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 16))
    return pajson.read_json(pa.BufferReader(data), read_options=options,
                            parse_options=_PARSE_OPTIONS)


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _plain(joined: _Joined) -> np.ndarray:
    """Per body: whether the reader alone would judge it as strict JSON does, so it needs no
    screening. That takes one line holding an object (the reader skips blank lines and can
    crash on a lone `null`), in UTF-8 (it does not check strings), without N or I outside
    strings (NaN and Infinity are not JSON) and no deeper than MAX_DEPTH.

    Strings are told apart by counting quotes from each body's start, so a body that is not
    JSON can only misjudge itself, and the reader or the screen then says why it is not JSON.
    """
    text, starts = joined.text, joined.starts[:-1]
    sizes = np.diff(joined.starts) - 1
    data = np.frombuffer(text, dtype=np.uint8)
    plain = sizes > 0
    plain[plain] = ((data[starts[plain]] == ord("{"))
                    & (data[starts[plain] + sizes[plain] - 1] == ord("}")))

    def owners(positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(starts, positions, side="right") - 1

    if text.count(b"\n") >= len(sizes):  # more than the separators: some body holds one
        newlines = np.flatnonzero(data == ord("\n"))
        plain[owners(np.setdiff1d(newlines, starts[1:] - 1))] = False
    if b"\r" in text:
        plain[owners(np.flatnonzero(data == ord("\r")))] = False
    if not _utf8(text):
        plain[[row for row, (start, size) in enumerate(zip(starts, sizes, strict=True))
               if not _utf8(text[start : start + size])]] = False
    letters = b"N" in text or b"I" in text
    deep = sizes.max() > 2 * MAX_DEPTH  # nesting deeper than MAX_DEPTH takes this many bytes
    if letters or deep:
        quotes = string_quotes(data)
        quotes_before_body = np.searchsorted(quotes, starts)

        def outside_strings(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            rows = owners(positions)
            outside = (np.searchsorted(quotes, positions) - quotes_before_body[rows]) % 2 == 0
            return positions[outside], rows[outside]

        if letters:
            plain[outside_strings(np.flatnonzero(_NON_JSON_LETTERS[data]))[1]] = False
        if deep:
            brackets, rows = outside_strings(np.flatnonzero(_NESTING[data]))
            steps = _NESTING[data[brackets]]
            depth = np.cumsum(steps, dtype=np.int64)
            first = np.searchsorted(rows, rows)  # each body's first bracket
            plain[rows[depth - (depth[first] - steps[first]) > MAX_DEPTH]] = False
    return plain


def _screen(body: bytes) -> tuple[Problem | None, bytes]:
    """Why `body` is not a well-typed JSON object, and the one line the reader should read
    for it (blank when there is a problem)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return _refused(body, error)
    problem = _object_problem(value, body)
    return (problem, _BLANK) if problem else (None, _one_line(body))


def _one_line(body: bytes) -> bytes:
    # Valid JSON has newlines only as whitespace, and the reader needs one line per body.
    if b"\n" in body or b"\r" in body:
        return body.replace(b"\n", b" ").replace(b"\r", b" ")
    return body


def _refused(body: bytes, error: orjson.JSONDecodeError) -> tuple[Problem | None, bytes]:
    """Why orjson refused `body`: not JSON, or a number beyond a double (still JSON)."""
    if not _utf8(body):
        return ("bad_json", None, "body is not UTF-8"), _BLANK
    if not body.strip(_WHITESPACE):
        return ("bad_json", None, "body is empty"), _BLANK
    constant = _non_json_number(body)
    if constant is not None:
        return constant, _BLANK
    if _OVERFLOW in str(error):
        return _with_infinities(body)
    return ("bad_json", None, f"body is not valid JSON: {error}"), _BLANK


class _Constant(str):
    """NaN, Infinity or -Infinity where a body had it (Python's json module reads them)."""


def _non_json_number(body: bytes) -> Problem | None:
    """bad_json naming NaN, Infinity or -Infinity, when one is the first thing wrong with
    `body`: the reader would take them as numbers, but they are not JSON (RFC 8259)."""
    if b"NaN" not in body and b"Infinity" not in body:
        return None
    found: list[_Constant] = []

    def constant(token: str) -> _Constant:
        found.append(_Constant(token))
        return found[-1]

    try:
        value = json.loads(body.decode(), parse_constant=constant)
    except (ValueError, RecursionError):
        value = None
    if not found:
        return None
    if isinstance(value, dict):
        for name, item in value.items():
            if type(item) is _Constant:
                return "bad_json", name, f"{name} is {item}, which is not a JSON number"
    return "bad_json", None, f"body holds {found[0]}, which is not a JSON number"


def _with_infinities(body: bytes) -> tuple[Problem | None, bytes]:
    """A body with numbers beyond a double's range, which RFC 8259 lets a parser refuse but
    which are JSON: judged with 0 in their place, read as ±Infinity (out of range, or ignored
    in an unknown field), as the reader itself reads 1 followed by 400 zeros."""
    def replace(match: re.Match[bytes], positive: bytes, negative: bytes) -> bytes:
        token = match[0]
        if token[:1] == b'"' or not math.isinf(float(token)):
            return token
        return negative if token[:1] == b"-" else positive

    judged = _STRING_OR_NUMBER.sub(lambda m: replace(m, b"0", b"0"), body)
    try:
        value = orjson.loads(judged)
    except orjson.JSONDecodeError as error:
        return ("bad_json", None, f"body is not valid JSON: {error}"), _BLANK
    problem = _object_problem(value, judged)
    if problem:
        return problem, _BLANK
    read = _STRING_OR_NUMBER.sub(lambda m: replace(m, b"Infinity", b"-Infinity"), body)
    return None, _one_line(read)


def _object_problem(value: object, body: bytes) -> Problem | None:
    """Why the parsed `body` is not an object whose contract fields have their JSON types.

    A repeated contract key is bad JSON (the reader refuses it; orjson keeps the last), and
    comes first, as bad_json comes before wrong_type.
    """
    if type(value) is not dict:
        return "not_an_object", None, f"body is a JSON {_JSON_KINDS[type(value)]}, not an object"
    strings, nested, wrong = len(value), False, None
    for name, item in value.items():
        kind = type(item)
        if kind is str:
            strings += 1
        elif kind is dict or kind is list:
            nested = True
        expected = _PYTHON_TYPES.get(name)
        if wrong is None and expected is not None and item is not None and kind not in expected:
            wrong = name
    # In a flat body without escapes every quote delimits a key or a string value, so a
    # count of them says whether a key came twice; anything else gets the exact check.
    if nested or b"\\" in body or body.count(b'"') != 2 * strings:
        twice = _repeated_contract_key(body)
        if twice is not None:
            return "bad_json", twice, f"{twice} was specified twice"
    if wrong is None:
        return None
    wanted = "string" if _PYTHON_TYPES[wrong] == (str,) else "number"
    got = _JSON_KINDS[type(value[wrong])]
    return "wrong_type", wrong, f"{wrong} must be a JSON {wanted}, got a {got}"


def _repeated_contract_key(body: bytes) -> str | None:
    """The first contract key `body` (JSON) holds twice at its top level, if any."""
    try:
        pairs = json.loads(body.decode(), object_pairs_hook=lambda pairs: pairs)
    except (ValueError, RecursionError):  # beyond Python's limits: the reader will tell
        return None
    seen: set[str] = set()
    for name, _ in pairs:
        if name in _PYTHON_TYPES:
            if name in seen:
                return name
            seen.add(name)
    return None


def _read_lines(joined: _Joined, lines: list[bytes], vetted: np.ndarray,
                problems: dict[int, Problem]) -> pa.Table:
    """Read `lines` (`joined`), trusting the reader to judge the lines not `vetted` (screened)
    yet; the reasons for lines found bad go to `problems`, and their rows are null."""
    table, row, _ = joined.attempt(0, len(lines))
    if table is not None:
        return table
    if _screen_refused(joined, row, lines, vetted, problems):
        table = _Joined(lines).attempt(0, len(lines))[0]
        if table is not None:
            return table
    # The reader is no guide here (or no longer worth asking): screen every line, then read.
    for other in np.flatnonzero(~vetted).tolist():
        _vet(other, lines, vetted, problems)
    return pa.concat_tables(_read_vetted(_Joined(lines), 0, len(lines), problems))


def _screen_refused(joined: _Joined, row: int | None, lines: list[bytes], vetted: np.ndarray,
                    problems: dict[int, Problem]) -> bool:
    """Screen the line the reader refused (`row`) and read on after it, line after line,
    while refusals are sparse. True when the reader took all the lines after the last
    refusal; False when it did not say which line it refused, named one already screened
    (a line holding two values shifts its count), or refusals came too often.

    A screened line is blanked if it has a problem, or replaced by its screened form (huge
    numbers as ±Infinity). The failed reads stop at their refusals, so together they read
    the batch about once.
    """
    refusals = 0
    # A reader call costs about as much as screening 100 lines: go on while refusals are
    # at least 128 lines apart on average, so they cost at most as much as screening all.
    while row is not None and not vetted[row] and refusals <= row // 128:
        refusals += 1
        _vet(row, lines, vetted, problems)
        if row + 1 == len(lines):
            return True
        table, row, _ = joined.attempt(row + 1, len(lines))
        if table is not None:
            return True
    return False


def _vet(row: int, lines: list[bytes], vetted: np.ndarray, problems: dict[int, Problem]
         ) -> None:
    problem, lines[row] = _screen(lines[row])
    vetted[row] = True
    if problem is not None:
        problems[row] = problem


class _Joined:
    """Lines joined by newlines once, so that any run of them is read without a copy."""

    def __init__(self, lines: list[bytes]) -> None:
        self.text = b"\n".join(lines)
        self.buffer = pa.py_buffer(self.text)
        sizes = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
        self.starts = np.concatenate(([0], np.cumsum(sizes + 1)))  # and one past the end

    def attempt(self, first: int, end: int) -> tuple[pa.Table | None, int | None, str]:
        """Read lines first..end-1: the table, or else the line the reader refused (None if
        it does not say which) and why."""
        run = self.buffer.slice(self.starts[first], self.starts[end] - self.starts[first] - 1)
        try:
            table = _read(run)
        except pa.ArrowInvalid as error:
            named = _ERROR_ROW.search(str(error))
            row = first + int(named["row"]) if named else end
            return None, row if row < end else None, str(error)
        if table.num_rows == end - first:
            return table, None, ""
        return None, None, "body holds more than one JSON value"


def _read_vetted(joined: _Joined, first: int, end: int, problems: dict[int, Problem]
                 ) -> list[pa.Table]:
    """Lines first..end-1, every one vetted, as tables. Should the reader refuse a line all
    the same, it becomes a null row with the reader's reason; an error that does not say
    which line is narrowed down by halving."""
    parts: list[pa.Table] = []
    while first < end:
        table, row, message = joined.attempt(first, end)
        if table is not None:
            parts.append(table)
            break
        if row is None and end - first > 1:
            middle = (first + end) // 2
            parts += _read_vetted(joined, first, middle, problems)
            first = middle
            continue
        row = first if row is None else row
        parts += _read_vetted(joined, first, row, problems)
        problems[row] = _arrow_problem(message)
        parts.append(_NULL_ROW)
        first = row + 1
    return parts


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
