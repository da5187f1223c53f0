"""Shopper events: the contract, batch parsing and validation, and landing in the lake."""

from shared.events.ingest import EventBatch, IngestResult, ingest_batch

__all__ = ["EventBatch", "IngestResult", "ingest_batch"]
