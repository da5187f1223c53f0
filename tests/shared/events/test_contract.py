"""The contract is published where producers can find it, and matches the code."""

from __future__ import annotations

import jsonschema

from shared.events.contract import (
    FIELDS,
    PARSE_SCHEMA,
    RAW_SCHEMA,
    json_schema,
    json_schema_text,
    published_json_schema_text,
)
from tests.support.paths import ROOT


def test_published_schema_file_is_current() -> None:
    assert published_json_schema_text() == json_schema_text(), (
        "run `shoplake schema --write` after changing the contract")


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())


def test_the_events_page_documents_every_field() -> None:
    page = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    missing = [f.name for f in FIELDS if f"| `{f.name}` |" not in page]
    assert not missing


def test_raw_schema_keeps_every_contract_field() -> None:
    assert set(PARSE_SCHEMA.names) <= set(RAW_SCHEMA.names)
