"""Splitting HTTP bodies into event bodies."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.events.requests import UnsupportedContentType, split_request_body


def test_ndjson_lines_are_kept_byte_for_byte_and_blank_lines_skipped() -> None:
    body = b'{"a": 1}\r\n\n  \n{"b":2}\n'

    assert split_request_body(body, "application/x-ndjson; charset=utf-8") == [
        b'{"a": 1}', b'{"b":2}']


def test_json_array_elements_become_events_byte_for_byte() -> None:
    assert split_request_body(b'[{"a": 1}, 5]', "application/json") == [b'{"a": 1}', b"5"]


def test_a_lone_object_or_unparseable_json_is_one_event() -> None:
    assert split_request_body(b'{"a": 1}', "application/json") == [b'{"a": 1}']
    assert split_request_body(b'[{"a": 1},', "application/json") == [b'[{"a": 1},']


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml"])
def test_other_content_types_are_refused_by_name(content_type: str | None) -> None:
    with pytest.raises(UnsupportedContentType, match="application/x-ndjson"):
        split_request_body(b"{}", content_type)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8)
whitespace = st.text(alphabet=" \t\r\n", max_size=3).map(str.encode)


@given(st.lists(st.tuples(whitespace, json_values, whitespace), max_size=8), whitespace)
def test_an_arrays_elements_are_kept_byte_for_byte(elements: list, inside: bytes) -> None:
    texts = [json.dumps(value, indent=1 if isinstance(value, dict) else None).encode()
             for _, value, _ in elements]
    body = b"[" + b",".join(before + text + after for (before, _, after), text in
                            zip(elements, texts, strict=True)) + inside + b"]"

    assert split_request_body(body, "application/json") == texts


@pytest.mark.parametrize(("body", "events"), [
    (b'[{"q": "a,b]"}, {"q": "c\\"],["}]', [b'{"q": "a,b]"}', b'{"q": "c\\"],["}']),
    (b'[{"quantity": NaN}, {"a": 1, "a": 2}]', [b'{"quantity": NaN}', b'{"a": 1, "a": 2}']),
    (b'[{"a": [1, 2]}, oops, {"b": {"c": 3}}]', [b'{"a": [1, 2]}', b"oops", b'{"b": {"c": 3}}']),
    (b"[1,,2,]", [b"1", b"", b"2", b""]),
    (b'["\\\\", "\\\\\\""]', [b'"\\\\"', b'"\\\\\\""']),
    (b" [ ] ", []),
    (b"[]", []),
])
def test_array_elements_are_found_without_parsing_them(body: bytes, events: list) -> None:
    assert split_request_body(body, "application/json") == events


@pytest.mark.parametrize("body", [
    b'[{"a": 1},', b"[1] [2]", b'["open]', b"[{]", b"[1]]", b'{"a": [1, 2]}', b"", b"  ",
    b"\xef\xbb\xbf[1]", b"null",
])
def test_a_body_that_is_not_one_array_is_one_event(body: bytes) -> None:
    assert split_request_body(body, "application/json") == [body]


def test_a_large_array_of_nulls_is_as_many_events() -> None:
    body = b"[" + b",".join([b"null"] * 100_000) + b"]"

    assert split_request_body(body, "application/json") == [b"null"] * 100_000
