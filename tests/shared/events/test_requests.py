"""Splitting HTTP bodies into event bodies."""

from __future__ import annotations

import orjson
import pytest

from shared.events.requests import UnsupportedContentType, split_request_body


def test_ndjson_lines_are_kept_byte_for_byte_and_blank_lines_skipped() -> None:
    body = b'{"a": 1}\r\n\n  \n{"b":2}\n'

    assert split_request_body(body, "application/x-ndjson; charset=utf-8") == [
        b'{"a": 1}', b'{"b":2}']


def test_json_array_elements_become_events() -> None:
    assert split_request_body(b'[{"a": 1}, 5]', "application/json") == [
        orjson.dumps({"a": 1}), b"5"]


def test_a_lone_object_or_unparseable_json_is_one_event() -> None:
    assert split_request_body(b'{"a": 1}', "application/json") == [b'{"a": 1}']
    assert split_request_body(b'[{"a": 1},', "application/json") == [b'[{"a": 1},']


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml"])
def test_other_content_types_are_refused_by_name(content_type: str | None) -> None:
    with pytest.raises(UnsupportedContentType, match="application/x-ndjson"):
        split_request_body(b"{}", content_type)
