"""Shopper events: the contract, batch parsing and validation, and landing in the lake."""

from shared.events import contract
from shared.events.contract import EVENT_SCHEMA, EVENT_TYPES, RAW_SCHEMA, json_schema
from shared.events.delivery import eventhub_batches, partition_of
from shared.events.files import ndjson_batches
from shared.events.ingest import EventBatch, IngestResult, ingest_event_batch
from shared.events.raw import IngestTotals, ingest_totals, raw_events
from shared.events.requests import UnsupportedContentType, split_request_body
from shared.events.timestamps import parse_rfc3339

__all__ = [
    "EVENT_SCHEMA",
    "EVENT_TYPES",
    "RAW_SCHEMA",
    "EventBatch",
    "IngestResult",
    "IngestTotals",
    "UnsupportedContentType",
    "contract",
    "eventhub_batches",
    "ingest_event_batch",
    "ingest_totals",
    "json_schema",
    "ndjson_batches",
    "parse_rfc3339",
    "partition_of",
    "raw_events",
    "split_request_body",
]
