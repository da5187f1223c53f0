"""Batch files: source mappings, streaming CSV reading, landing with a content-keyed ledger,
and the pipeline runner the blob trigger hands uploads to."""
