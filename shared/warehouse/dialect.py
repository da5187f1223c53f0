"""The transforms' SQL is written once, in DuckDB's dialect; Spark runs a translation.

sqlglot translates each statement (the table's SELECT, and the statements an engine
builds around it) from DuckDB SQL to Spark SQL, so no transform has a second copy.

A translation can run and still answer differently: `portability_problems` reads a
table's SQL with its inputs' types and reports what is known (by running both engines on
the same rows: DuckDB and Spark 3.4, Synapse's runtime) to differ, or is not known to
agree. docs/star-schema.md#portable-sql gives the rules to SQL authors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import ClassVar

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope


class _Spark(Spark):
    """Spark, with what sqlglot translates wrongly corrected (found by the parity tests)."""

    class Generator(Spark.Generator):
        TRANSFORMS: ClassVar = {
            **Spark.Generator.TRANSFORMS,
            # sqlglot writes (DAYOFWEEK(d) % 7) + 1, which is Sunday = 1: ISO is Monday = 1.
            exp.DayOfWeekIso: lambda self, e:
                f"EXTRACT(DAYOFWEEK_ISO FROM {self.sql(e, 'this')})",
        }


SPARK = _Spark()


@lru_cache(maxsize=1024)
def to_spark(sql: str) -> str:
    """One DuckDB SELECT as Spark SQL (what cannot be translated raises)."""
    (translated,) = sqlglot.transpile(sql, read="duckdb", write=SPARK,
                                      unsupported_level=ErrorLevel.RAISE)
    return translated


Finding = tuple[exp.Expression | None, str]
"""An expression of the SQL (None: the whole of it), what is wrong with it and how to write
it instead."""

Keys = list[frozenset[tuple[str, str]]]
"""Sets of (source alias, column) that identify a row of a relation."""

T = exp.DataType.Type
TEXT = exp.DataType.TEXT_TYPES
INTEGERS = exp.DataType.INTEGER_TYPES
DECIMALS = {T.DECIMAL, T.BIGDECIMAL}
FLOATS = exp.DataType.FLOAT_TYPES
EXACT = INTEGERS | DECIMALS
TEMPORAL = exp.DataType.TEMPORAL_TYPES

VERIFIED: frozenset[type[exp.Expression]] = frozenset({
    # Each gave the same values on DuckDB and Spark 3.4 (nulls included); those with a
    # check in CONDITIONS only in the forms the check lets through.
    exp.Count, exp.CountIf, exp.Min, exp.Max, exp.Sum, exp.Avg,
    exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist, exp.Ntile,
    exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue,
    exp.Coalesce, exp.Nullif, exp.Case, exp.If, exp.Greatest, exp.Least,
    exp.Cast, exp.TryCast, exp.Abs, exp.Round,
    exp.Lower, exp.Upper, exp.Trim, exp.Length, exp.Substring, exp.Left, exp.Replace,
    exp.Pad, exp.Repeat, exp.Reverse, exp.MD5, exp.SplitPart, exp.Split, exp.Concat,
    exp.Contains, exp.StartsWith, exp.EndsWith, exp.RegexpLike, exp.RegexpExtract,
    exp.Extract, exp.Year, exp.Quarter, exp.Month, exp.Day, exp.DayOfMonth, exp.DayOfYear,
    exp.DayOfWeekIso, exp.WeekOfYear, exp.Hour, exp.Minute, exp.LastDay, exp.TimestampTrunc,
    exp.DateDiff, exp.TimeToStr,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.Paren, exp.DPipe,
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike,
    exp.Escape, exp.Exists,
})
"""What a table's SQL may use: functions and operators found to agree on both engines.
Another one is reported until it is compared on both engines and added here."""

KNOWN_TRAPS: dict[type[exp.Expression], str] = {
    exp.DayOfWeek: "Sunday is 0 on DuckDB and 1 on Spark; write the ISO day, ISODOW(d) "
                   "(Monday = 1)",
    exp.ArrayAgg: "Spark's COLLECT_LIST keeps no order (sqlglot drops the ORDER BY), so the "
                  "lists differ; leave lists out of tables",
    exp.GroupConcat: "it becomes LISTAGG, which Spark 3.4 does not have",
    exp.RegexpReplace: "DuckDB replaces the first match (all with 'g', an option sqlglot "
                       "drops), Spark replaces every match",
    exp.TimeToUnix: "DuckDB's EPOCH keeps fractions of a second, Spark's UNIX_TIMESTAMP does "
                    "not",
    exp.UnixToTime: "EPOCH_MS of a timestamp becomes TIMESTAMP_MILLIS, which Spark refuses",
    exp.DateBin: "TIME_BUCKET becomes DATE_BIN, which Spark 3.4 does not have",
    exp.SimilarTo: "Spark 3.4 cannot parse SIMILAR TO; use REGEXP_MATCHES",
    exp.First: "it keeps whichever row an engine meets first; use MIN or MAX",
    exp.AnyValue: "it keeps whichever row an engine meets first; use MIN or MAX",
    exp.StrToTime: "DuckDB stops on text that does not match, Spark returns NULL",
}
"""Functions known to differ, and why (the rest of the unverified get a general line)."""

UNKNOWN_FUNCTIONS = {
    "HASH": "a 64-bit hash on DuckDB, Spark's is a 32-bit Murmur3; use MD5",
    "DATE_SUB": "DuckDB's DATE_SUB(part, start, end) is a difference, Spark's adds days",
}
"""Functions sqlglot does not know (it passes them on unchanged), known to differ."""

EXTRACT_PARTS = {"YEAR", "QUARTER", "MONTH", "DAY", "DOY", "WEEK", "HOUR", "MINUTE"}
"""EXTRACT parts alike on both (DOW counts from 0 on DuckDB, 1 on Spark; SECOND keeps the
fraction on Spark; ISODOW, EPOCH and MILLISECOND fail on Spark)."""

TRUNC_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}

STRFTIME_CODES = {"%Y", "%m", "%d", "%H", "%M", "%S", "%y", "%b", "%B", "%a", "%A", "%I", "%p",
                  "%f", "%-d", "%-m", "%-H"}
"""STRFTIME codes that format alike; others (%j, %u, %V, %z, ...) differ or fail on Spark."""
STRFTIME_FORMAT = re.compile(r"(?:%-?[A-Za-z]|[ \-/:.,_])*")
"""A format of codes and separators only: a letter outside a code would be a Spark pattern
letter (`T` fails, `W` is the week)."""

SHOWN = 70
"""At most this many characters of an expression in a problem's line."""


def portability_problems(sql: str, inputs: Mapping[str, pa.Schema],
                         keys: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """What in one SELECT may answer differently once translated to Spark, one line each
    (`line N: <expression>: <why>; <what to write instead>`), in the order of the SQL.

    `inputs` gives the Arrow schema of everything the SQL reads (so the rules know which
    operands are text, decimals or dates); `keys`, what identifies a row of each (so a
    ROW_NUMBER's ORDER BY can be checked to reach one).
    """
    schema = {name: _column_types(columns) for name, columns in inputs.items()}
    try:
        written = sqlglot.parse_one(sql, read="duckdb")
        typed = annotate_types(
            qualify(written.copy(), schema=schema, dialect="duckdb", quote_identifiers=False,
                    validate_qualify_columns=False),
            schema=schema, dialect="duckdb")
    except SqlglotError as error:
        return [f"sqlglot cannot read it, so it cannot translate it: {error}"]
    findings = [*_untranslatable(written), *_star_traps(written),  # before stars expand
                *_unverified(typed), *_ties(typed, keys or {})]
    return [_line(node, why) for node, why in sorted(findings, key=lambda f: _line_number(f[0]))]


@lru_cache(maxsize=64)
def _column_types(schema: pa.Schema) -> dict[str, str]:
    """DuckDB's names for the Arrow types (the same mapping the embedded engine applies)."""
    with duckdb.connect() as con:
        relation = con.from_arrow(schema.empty_table())
        return {name: str(kind) for name, kind in zip(relation.columns, relation.types,
                                                      strict=True)}


def _untranslatable(tree: exp.Expression) -> Iterator[Finding]:
    generator = SPARK.generator(unsupported_level=ErrorLevel.IGNORE)
    generator.generate(tree)
    for message in generator.unsupported_messages:
        yield None, f"sqlglot cannot translate it to Spark: {message}"


def _star_traps(tree: exp.Expression) -> Iterator[Finding]:
    for select in tree.find_all(exp.Select):
        stars = [e for e in select.expressions if isinstance(e, exp.Star)
                 or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))]
        if stars and select.args.get("qualify"):
            yield select.args["qualify"], (
                "QUALIFY with SELECT *: Spark's translation (a subquery) adds its window "
                "column _w to the result; name the columns, or filter in an outer SELECT")
        for star in stars:
            star = star.this if isinstance(star, exp.Column) else star
            if any(star.args.get(part) for part in ("except_", "replace", "rename")):
                yield star, ("* EXCLUDE/REPLACE becomes * EXCEPT, which Spark 3.4 does not "
                             "have; name the columns")


def _unverified(tree: exp.Expression) -> Iterator[Finding]:
    for node in tree.walk():
        if not isinstance(node, exp.Func | exp.Binary | exp.Unary | exp.Predicate
                          | exp.Bracket):
            continue
        kind = type(node)
        if kind in VERIFIED:
            why = CONDITIONS.get(kind, _always_alike)(node)
        elif isinstance(node, exp.Anonymous):
            name = node.name.upper()
            why = UNKNOWN_FUNCTIONS.get(name) or (
                f"sqlglot does not know {name}(), so Spark gets it unchanged: it may not "
                "exist there, or mean something else")
        else:
            why = KNOWN_TRAPS.get(kind) or (
                f"not among the functions known to agree on Spark (sqlglot writes "
                f"{_shown(node, 'spark')}); use one that is, or compare it on both engines "
                "and add it to VERIFIED in shared/warehouse/dialect.py")
        if why:
            yield node, why


def _always_alike(_: exp.Expression) -> None:
    return None


def _is(node: exp.Expression | None, kinds: set[T]) -> bool:
    return node is not None and node.type is not None and node.type.this in kinds


def _is_constant(node: exp.Expression) -> bool:
    """A literal or NULL: the same text on both engines, and a bad one fails every DuckDB run."""
    return isinstance(node.unnest(), exp.Literal | exp.Null)


def _cast(node: exp.Cast) -> str | None:
    value, target = node.this, node.to
    if _is(value, TEXT) and not _is_constant(value) and not target.is_type(*TEXT):
        if not isinstance(node, exp.TryCast):
            return ("CAST of text: DuckDB stops the refresh on a bad value, Spark 3.4 makes it "
                    "NULL; use TRY_CAST (NULL on both)")
        if target.is_type(*INTEGERS):
            return ("TRY_CAST of text to an integer: DuckDB rounds '1.5' and reads '1e3', "
                    "Spark gives NULL; TRY_CAST to DECIMAL(p, 0) (alike), then CAST that")
    if _is(value, FLOATS | DECIMALS) and target.is_type(*INTEGERS) and not _whole(value):
        return ("a DOUBLE or DECIMAL cast to an integer is rounded on DuckDB and truncated on "
                "Spark (2.7 gives 3 and 2); round it first: CAST(ROUND(x) AS INTEGER)")
    if _is(value, FLOATS) and target.is_type(*DECIMALS) and not _rounded(value, target):
        return ("a DOUBLE cast to DECIMAL rounds differently at half units (DuckDB the binary "
                "value, Spark its shortest decimal); round in the double first: "
                "CAST(ROUND(x * 100) / 100 AS DECIMAL(18, 2))")
    if _is(value, FLOATS | TEMPORAL - {T.DATE}) and target.is_type(*TEXT):
        return ("DuckDB and Spark write DOUBLEs and timestamps as different text ('1e+20' and "
                "'1.0E20'; '…+00' and no zone); format a timestamp with STRFTIME")
    return None


def _whole(value: exp.Expression) -> bool:
    """Has this DOUBLE or DECIMAL no fraction to round: ROUND(x) (to 0 places), a DECIMAL of
    0 places, or a DECIMAL times 10^k, k at least its places (`cents * 100`)?"""
    value = value.unnest()
    if isinstance(value, exp.Round):
        places = value.args.get("decimals")
        return places is None or (places.is_int and int(places.name) == 0)
    if isinstance(value, exp.Mul) and re.fullmatch(r"10*", value.expression.name):
        return _places(value.this) <= len(value.expression.name) - 1
    return _places(value) == 0


def _places(value: exp.Expression) -> float:
    """A DECIMAL's places, as its type tells them (unknown: infinitely many)."""
    kind = value.type
    if kind is None or not kind.is_type(*DECIMALS) or len(kind.expressions) != 2:
        return float("inf")
    places = kind.expressions[1].this
    return int(places.name) if isinstance(places, exp.Literal) and places.is_int else float("inf")


def _rounded(value: exp.Expression, target: exp.DataType) -> bool:
    """Is the DOUBLE `ROUND(x * 10^k) / 10^k` with k no more than the DECIMAL's places? Such
    a double is the nearest to a k-place decimal, which both engines cast to that decimal."""
    value = value.unnest()
    if not isinstance(value, exp.Div) or not re.fullmatch(r"10*", value.expression.name):
        return False
    rounded = value.this.unnest()
    product = rounded.this.unnest() if isinstance(rounded, exp.Round) else None
    places = target.expressions[1].name if len(target.expressions) == 2 else "0"
    return (isinstance(product, exp.Mul) and rounded.args.get("decimals") is None
            and product.expression == value.expression
            and len(value.expression.name) - 1 <= int(places))


def _round(node: exp.Round) -> str | None:
    if _is(node.this, FLOATS) and node.args.get("decimals") is not None:
        return ("ROUND of a DOUBLE to places: DuckDB rounds the binary value, Spark its "
                "shortest decimal (17825.224999… gives .22 and .23); write ROUND(x * 100) / 100")
    return None


def _sum_or_avg(node: exp.Sum | exp.Avg) -> str | None:
    if isinstance(node, exp.Avg) and _is(node.this, DECIMALS):
        return ("AVG of DECIMALs is a DOUBLE on DuckDB and a DECIMAL rounded to a few places on "
                "Spark; average DOUBLEs: AVG(CAST(x AS DOUBLE))")
    if isinstance(node, exp.Sum) and _is(node.this, EXACT) and _reaches_a_column(node):
        return ("SUM of integers or DECIMALs has another type on each engine (HUGEINT and "
                "BIGINT; DECIMAL(38, s) and DECIMAL(p + 10, s)); CAST it where it is computed")
    return None


CLAUSES = (exp.Where, exp.Having, exp.Qualify, exp.Group, exp.Order, exp.Ordered, exp.Join)
"""Where a value selects, groups or orders rows but is not a column of the result."""


def _reaches_a_column(node: exp.Expression) -> bool:
    """Does this value's engine-dependent type reach a selected column? A CAST fixes it; a
    comparison, or arithmetic with a DOUBLE, turns it into a type both engines agree on."""
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Select):
        if isinstance(parent, (exp.Cast, *CLAUSES)):
            return False
        if parent.type is not None and parent.type.this not in EXACT | {T.UNKNOWN}:
            return False
        parent = parent.parent
    return parent is not None


def _division(node: exp.Div | exp.IntDiv | exp.Mod) -> str | None:
    if not _never_zero(node.expression):
        return ("dividing by 0 gives Infinity or NaN on DuckDB (and stops the refresh for // "
                "and %), NULL on Spark; divide by NULLIF(b, 0)")
    if isinstance(node, exp.Div) and (_is(node.this, DECIMALS) or _is(node.expression,
                                                                      DECIMALS)):
        return ("DuckDB divides DECIMALs as DOUBLEs, Spark as DECIMALs rounded to 6 or more "
                "places: the results differ, even after rounding to cents; divide DOUBLEs "
                "(CAST(a AS DOUBLE) / b) and, for a DECIMAL, CAST(ROUND(q * 100) / 100 AS "
                "DECIMAL(18, 2))")
    return None


def _never_zero(divisor: exp.Expression) -> bool:
    """NULLIF(x, 0), a number other than 0, a group's COUNT(*), and products of these."""
    divisor = divisor.unnest()
    if isinstance(divisor, exp.Mul):
        return _never_zero(divisor.this) and _never_zero(divisor.expression)
    if isinstance(divisor, exp.Neg) or (isinstance(divisor, exp.Cast)
                                        and not divisor.to.is_type(*INTEGERS)):
        return _never_zero(divisor.this)  # (a CAST to an integer may round to 0)
    if isinstance(divisor, exp.Nullif):
        zero = divisor.expression
        return zero.is_number and float(zero.name) == 0
    if isinstance(divisor, exp.Count) and isinstance(divisor.this, exp.Star):
        select = divisor.find_ancestor(exp.Select, exp.Window)
        return isinstance(select, exp.Select) and bool(select.args.get("group"))
    return divisor.is_number and float(divisor.name) != 0


def _date_arithmetic(node: exp.Add | exp.Sub) -> str | None:
    operands = (node.this, node.expression)
    if any(isinstance(o, exp.Interval) for o in operands) and any(
            _is(o, {T.DATE}) for o in operands):
        return ("a DATE and an INTERVAL give a TIMESTAMP on DuckDB and a DATE on Spark; add "
                "days as a number (d + 1)")
    if isinstance(node, exp.Sub) and all(_is(o, TEMPORAL) for o in operands):
        return ("the difference of two dates or timestamps is a number or an INTERVAL on "
                "DuckDB, another INTERVAL on Spark; use DATE_DIFF('day', a, b) on dates")
    return None


def _compared(node: exp.Expression) -> str | None:
    """Text compared with a number or date: DuckDB converts it and stops on a bad value,
    Spark makes the bad value NULL (no match). A literal converts alike on both."""
    others = [node.args.get(k) for k in ("expression", "low", "high")] + node.expressions
    sides = [node.this, *(o for o in others if o is not None)]
    text = [s for s in sides if _is(s, TEXT) and not _is_constant(s)]
    typed = [s for s in sides if s.type is not None and s.type.this not in TEXT | {T.UNKNOWN}
             and not isinstance(s.unnest(), exp.Null)]
    if text and typed:
        return (f"compares text with {typed[0].type.sql('duckdb')}: DuckDB converts the text "
                "and stops on a bad value, Spark treats it as NULL; TRY_CAST the text")
    return None


def _date_diff(node: exp.DateDiff) -> str | None:
    if node.text("unit").upper() == "DAY" and _is(node.this, {T.DATE}) and _is(
            node.expression, {T.DATE}):
        return None
    return ("DATE_DIFF counts boundaries crossed on DuckDB, whole units on Spark (23:00 to "
            "01:00 is 1 day and 0 days; January 31 to February 1, 1 month and 0 months); use "
            "it for days between DATEs only")


def _extract(node: exp.Extract) -> str | None:
    part = node.this.name.upper()
    if part in EXTRACT_PARTS:
        return None
    return f"EXTRACT({part}) differs on Spark; parts alike: {', '.join(sorted(EXTRACT_PARTS))}"


def _trunc(node: exp.TimestampTrunc) -> str | None:
    unit = node.text("unit").upper()
    if unit in TRUNC_UNITS:
        return None
    return (f"DATE_TRUNC to {unit} is not known to agree; units alike: "
            f"{', '.join(sorted(TRUNC_UNITS))}")


def _strftime(node: exp.TimeToStr) -> str | None:
    text = node.args["format"]
    if isinstance(text, exp.Literal) and text.is_string and STRFTIME_FORMAT.fullmatch(
            text.name) and set(re.findall(r"%-?.", text.name)) <= STRFTIME_CODES:
        return None
    return ("a STRFTIME format that translates alike is a literal of these codes and "
            f"' -/:.,_' only: {' '.join(sorted(STRFTIME_CODES))}")


def _length(node: exp.Length) -> str | None:
    if _is(node.this, TEXT):
        return None
    return "LENGTH of a list fails on Spark (its LENGTH takes text)"


def _number(node: exp.Expression | None) -> float | None:
    """The value of a numeric literal (negated or not), else None."""
    if node is None:
        return None
    node = node.unnest()
    if isinstance(node, exp.Neg):
        inner = _number(node.this)
        return None if inner is None else -inner
    return float(node.name) if isinstance(node, exp.Literal) and node.is_number else None


def _at_least(node: exp.Expression, bound: int) -> bool:
    """Is the number never below `bound` (NULL aside): such a literal, or a GREATEST with one?"""
    node = node.unnest()
    if isinstance(node, exp.Null):
        return True
    if isinstance(node, exp.Greatest):
        return any(_at_least(e, bound) for e in [node.this, *node.expressions])
    number = _number(node)
    return number is not None and number >= bound


def _nonempty(node: exp.Expression | None) -> bool:
    """Is the text a literal with characters (or NULL)?"""
    node = node.unnest() if node is not None else None
    return isinstance(node, exp.Null) or (isinstance(node, exp.Literal) and node.is_string
                                          and node.name != "")


def _substring(node: exp.Substring) -> str | None:
    start, length = node.args.get("start"), node.args.get("length")
    if length is None:
        return None  # from position 0 (or before), both return the whole text
    if not (_at_least(start, 1) or (_number(start) or 0) < 0):
        return ("SUBSTRING with a length from position 0 (or one that may be 0) takes a "
                "character less on DuckDB than on Spark; start from 1, or GREATEST(start, 1)")
    if not _at_least(length, 0) and _number(start) != 1:
        return ("a negative SUBSTRING length takes the characters before the start on DuckDB, "
                "none on Spark; write a length that cannot be negative: GREATEST(n, 0)")
    return None


def _left(node: exp.Left) -> str | None:
    if _at_least(node.expression, 0):
        return None
    return ("LEFT(s, -n) drops the last n characters on DuckDB, gives '' on Spark; write a "
            "length that cannot be negative: LEFT(s, GREATEST(n, 0))")


def _split_part(node: exp.SplitPart) -> str | None:
    index = node.args.get("part_index")
    if not (_at_least(index, 1) or (_number(index) or 0) < 0):
        return ("SPLIT_PART's part 0 (or a part that may be 0) is '' on DuckDB and stops the "
                "job on Spark; count parts from 1 (or from -1 at the end), or GREATEST(i, 1)")
    if not _nonempty(node.args.get("delimiter")):
        return ("SPLIT_PART by an empty delimiter splits into characters on DuckDB and keeps "
                "the whole text on Spark; split by a literal that is not empty")
    return None


def _pad(node: exp.Pad) -> str | None:
    if _nonempty(node.args.get("fill_pattern")):
        return None
    return ("LPAD/RPAD with an empty fill (or one that may be empty) stops the refresh on "
            "DuckDB, returns the text unpadded on Spark; pad with a literal that is not empty")


def _like(node: exp.Like | exp.ILike) -> str | None:
    pattern = node.expression.unnest()
    if isinstance(pattern, exp.Null) or isinstance(node.parent, exp.Escape):
        return None  # an explicit ESCAPE: checked by _escape
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        return ("a LIKE pattern that is not a literal may hold a backslash, Spark's escape "
                "character and an ordinary one on DuckDB; use a literal pattern, or "
                "STARTS_WITH, ENDS_WITH or CONTAINS")
    if "\\" not in pattern.name:
        return None
    return ("a backslash in a LIKE pattern escapes the next character on Spark, not on "
            "DuckDB; say so: LIKE 'a\\%' ESCAPE '\\' (which both read alike)")


def _escape(node: exp.Escape) -> str | None:
    like, escape = node.this, node.expression.unnest()
    pattern = like.expression.unnest() if isinstance(like, exp.Like | exp.ILike) else None
    if (isinstance(escape, exp.Literal) and escape.is_string and len(escape.name) == 1
            and isinstance(pattern, exp.Literal) and pattern.is_string):
        mark = re.escape(escape.name)  # each one before %, _ or itself:
        if re.fullmatch(f"(?:[^{mark}]|{mark}[%_{mark}])*", pattern.name):
            return None
    return ("an ESCAPE alike on both is one character, in a literal pattern, before only %, _ "
            "or itself (DuckDB reads any other escaped character as itself, Spark refuses "
            "the pattern); write LIKE 'a\\%' ESCAPE '\\'")


CONDITIONS: dict[type[exp.Expression], Callable[[exp.Expression], str | None]] = {
    exp.Cast: _cast, exp.TryCast: _cast, exp.Round: _round, exp.Sum: _sum_or_avg,
    exp.Avg: _sum_or_avg, exp.Div: _division, exp.IntDiv: _division, exp.Mod: _division,
    exp.Add: _date_arithmetic,
    exp.Sub: _date_arithmetic, exp.DateDiff: _date_diff, exp.Extract: _extract,
    exp.TimestampTrunc: _trunc, exp.TimeToStr: _strftime, exp.Length: _length,
    exp.Substring: _substring, exp.Left: _left, exp.SplitPart: _split_part, exp.Pad: _pad,
    exp.Like: _like, exp.ILike: _like, exp.Escape: _escape,
    **dict.fromkeys((exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ,
                     exp.NullSafeNEQ, exp.Between, exp.In), _compared),
}
"""The forms in which a verified function or operator agrees (None: this one does)."""

POSITIONAL = (exp.RowNumber, exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue)
"""Window functions that pick rows by their position: ties in the ORDER BY pick rows that
differ from engine to engine (and from run to run)."""


def _ties(tree: exp.Expression, known: Mapping[str, Sequence[str]]) -> Iterator[Finding]:
    relations = _Relations(known)
    for scope in traverse_scope(tree):
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        read = relations.input_keys(scope)
        group = select.args.get("group")
        windowed = _columns_key(group.expressions) if group else read  # the rows windows see
        for window in scope.find_all(exp.Window):
            function = window.this.this if isinstance(window.this, exp.IgnoreNulls) else (
                window.this)
            if isinstance(function, POSITIONAL):
                partition, order = _window_spec(window, select)
                if not _covers(windowed, [*partition, *order], select):
                    yield window, _tie_message(windowed)
        order = select.args.get("order")
        ordered = [o.this for o in order.expressions] if order else []
        distinct = select.args.get("distinct")
        on = distinct.args.get("on") if distinct else None
        if on and not _covers(read, [*on.expressions, *ordered], select):
            yield distinct, _tie_message(read)  # Spark's DISTINCT ON is a ROW_NUMBER
        if select.args.get("limit"):
            if order is None:
                yield select.args["limit"], ("LIMIT without ORDER BY keeps different rows on "
                                             "each engine; ORDER BY a unique key")
                continue
            if group:
                sorted_rows = windowed
            elif distinct:  # one row per ON value, or per distinct row
                sorted_rows = _columns_key(on.expressions if on else [
                    p.unalias() for p in select.expressions])
            else:
                sorted_rows = read
            if not _covers(sorted_rows, ordered, select):
                yield order, _tie_message(sorted_rows)


def _columns_key(expressions: list[exp.Expression]) -> Keys:
    """Columns that identify a row (of a GROUP BY, a DISTINCT): none told unless all are
    plain columns."""
    if not expressions or not all(isinstance(e, exp.Column) for e in expressions):
        return []
    return [frozenset((e.table, e.name) for e in expressions)]


def _tie_message(unique: Keys) -> str:
    keys = " or ".join("(" + ", ".join(f"{t}.{c}" for t, c in sorted(k)) + ")" for k in unique)
    return (f"its ORDER BY leaves ties, which each engine breaks its own way; order (or "
            f"partition) by a unique key as well: {keys}")


def _window_spec(window: exp.Window, select: exp.Select
                 ) -> tuple[list[exp.Expression], list[exp.Expression]]:
    """The window's PARTITION BY and ORDER BY expressions (a named window's, if it is one)."""
    if not window.args.get("partition_by") and not window.args.get("order") and window.alias:
        window = next((w for w in select.args.get("windows") or []
                       if w.this.name == window.alias), window)
    order = window.args.get("order")
    return (list(window.args.get("partition_by") or []),
            [o.this for o in order.expressions] if order else [])


def _covers(unique: Keys, expressions: list[exp.Expression], select: exp.Select) -> bool:
    """Do the plain columns among the expressions include a unique key? (Unknown keys: yes,
    as far as this check can tell.)"""
    aliases = {p.alias_or_name: p.unalias() for p in select.expressions}
    columns = set()
    for expression in expressions:
        if isinstance(expression, exp.Column) and not expression.table:  # an output alias
            expression = aliases.get(expression.name, expression)
        if isinstance(expression, exp.Column):
            columns.add((expression.table, expression.name))
    return not unique or any(key <= columns for key in unique)


class _Relations:
    """The unique keys of the relations a query reads and builds, where they can be told:
    tables and inputs (as declared), GROUP BY and DISTINCT results, projections that keep
    their input's key, a ROW_NUMBER with its partition, joins to a row by its key."""

    def __init__(self, known: Mapping[str, Sequence[str]]) -> None:
        self.known = known
        self.output: dict[int, list[frozenset[str]]] = {}

    def input_keys(self, scope: Scope) -> Keys:
        """Keys of what the scope's SELECT reads (its FROM and JOINs), by (alias, column)."""
        select = scope.expression
        source = select.args.get("from_")
        if source is None:
            return []
        found = self._source_keys(scope, source.this.alias_or_name)
        for join in select.args.get("joins") or []:
            alias = join.this.alias_or_name
            joined = self._source_keys(scope, alias)
            equated = _equated(join.args.get("on"), alias)
            if join.side in ("", "LEFT") and any(key <= equated for key in joined):
                continue  # each row meets one joined row at most: its key still holds
            found = [mine | theirs for mine in found for theirs in joined]
        return found

    def _source_keys(self, scope: Scope, alias: str) -> Keys:
        source = scope.sources.get(alias)
        if isinstance(source, exp.Table):
            names = [frozenset(self.known[source.name])] if source.name in self.known else []
        elif isinstance(source, Scope):
            names = self._output_keys(source)
        else:
            names = []
        return [frozenset((alias, column) for column in key) for key in names]

    def _output_keys(self, scope: Scope) -> list[frozenset[str]]:
        """Keys of a scope's result, by output column name."""
        if id(scope) not in self.output:
            self.output[id(scope)] = self._keys_of(scope)
        return self.output[id(scope)]

    def _keys_of(self, scope: Scope) -> list[frozenset[str]]:
        select = scope.expression
        if not isinstance(select, exp.Select):
            return []  # a UNION ALL may repeat rows
        projections = {p.alias_or_name: p.unalias() for p in select.expressions}
        if select.args.get("distinct"):
            return [frozenset(projections)]
        if select.args.get("group"):
            grouped = select.args["group"].expressions  # none for GROUP BY ALL: not told
            if not grouped or any(g not in projections.values() for g in grouped):
                return []
            return [frozenset(n for n, p in projections.items() if p in grouped)]
        plain = {(p.table, p.name): name for name, p in projections.items()
                 if isinstance(p, exp.Column)}
        keys = [frozenset(plain[c] for c in key) for key in self.input_keys(scope)
                if key <= plain.keys()]
        for name, projection in projections.items():
            if isinstance(projection, exp.Window) and isinstance(projection.this, exp.RowNumber):
                partition, _ = _window_spec(projection, select)
                columns = [(c.table, c.name) for c in partition if isinstance(c, exp.Column)]
                if len(columns) == len(partition) and set(columns) <= plain.keys():
                    keys.append(frozenset({name, *(plain[c] for c in columns)}))
        return keys


def _equated(condition: exp.Expression | None, alias: str) -> set[tuple[str, str]]:
    """The columns of `alias` that a join condition (its ANDed terms) sets equal to others."""
    if condition is None:
        return set()
    condition = condition.unnest()
    if isinstance(condition, exp.And):
        return _equated(condition.this, alias) | _equated(condition.expression, alias)
    sides = (condition.this, condition.expression) if isinstance(condition, exp.EQ) else ()
    return {(alias, side.name) for side in sides
            if isinstance(side, exp.Column) and side.table == alias}


def _line_number(node: exp.Expression | None) -> int:
    identifiers = node.find_all(exp.Identifier) if node else ()
    lines = [i.meta["line"] for i in identifiers if "line" in i.meta]
    return min(lines, default=0)


def _shown(node: exp.Expression, dialect: str = "duckdb") -> str:
    text = " ".join(node.sql(dialect=dialect).split())
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


def _line(node: exp.Expression | None, why: str) -> str:
    number = _line_number(node)
    return "".join((f"line {number}: " if number else "", f"{_shown(node)}: " if node else "",
                    why))
