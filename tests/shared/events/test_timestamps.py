"""RFC 3339 parsing: the one-kernel fast path and the exact path agree; bad texts are null."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.events.timestamps import _parse_rfc3339_exact, parse_rfc3339

moments = st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2200, 12, 31),
                       timezones=st.just(UTC))
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59)


def rfc3339(moment: datetime, offset_minutes: int, digits: int, separator: str) -> str:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
    if digits:
        text += "." + f"{local.microsecond:06d}{'123'}"[:digits]
    if offset_minutes == 0:
        return text + "Z"
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@given(st.lists(st.tuples(moments, offsets, st.integers(0, 9), st.sampled_from("T ")),
                min_size=1, max_size=20))
def test_fast_and_exact_paths_agree_and_round_trip(cases: list) -> None:
    texts = pa.array([rfc3339(*case) for case in cases])

    fast, exact = parse_rfc3339(texts).to_pylist(), _parse_rfc3339_exact(texts).to_pylist()

    assert fast == exact
    for (moment, _, digits, _), parsed in zip(cases, fast, strict=True):
        kept = 10 ** (6 - min(digits, 6))
        assert parsed == moment.replace(microsecond=moment.microsecond // kept * kept)


@pytest.mark.parametrize("text", [
    "2026-02-30T10:00:00Z",  # no such day
    "2026-11-01T25:00:00Z",
    "2026-11-01T10:00:60Z",
    "2026-11-01T10:00:00",  # no offset
    "2026-11-01T10:00:00+24:00",
    "2026-11-01T10:00Z",  # Arrow's ISO parser takes these; RFC 3339 does not
    "2026-11-01T10:00:00+0200",
    "2026-11-01",
    "28/11/2026 10:00",
    "",
])
def test_invalid_texts_become_null_without_failing_the_batch(text: str) -> None:
    parsed = parse_rfc3339(pa.array(["2026-11-01T10:00:00Z", text, None]))

    assert parsed.to_pylist() == [datetime(2026, 11, 1, 10, tzinfo=UTC), None, None]


def test_lowercase_separators_are_rfc3339_too() -> None:
    assert parse_rfc3339(pa.array(["2026-11-01t10:00:00z"])).to_pylist() == [
        datetime(2026, 11, 1, 10, tzinfo=UTC)]


def test_years_beyond_the_nanosecond_range_still_parse() -> None:
    assert parse_rfc3339(pa.array(["2300-01-01T00:00:00Z", "1600-01-01T00:00:00Z"])).to_pylist(
    ) == [datetime(2300, 1, 1, tzinfo=UTC), datetime(1600, 1, 1, tzinfo=UTC)]
