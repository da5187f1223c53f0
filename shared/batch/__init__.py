"""Batch files: source mappings, streaming CSV reading, landing with a content-keyed ledger,
and the pipeline runners the blob trigger hands uploads to (in-process, or a Synapse run).

Its public names load on first use, so importing one module of it loads no other. The
datasets' canonical shapes are in `shared.landed`.
"""

from shared.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "shared.batch.ingest": ["BatchFileResult", "ingest_batch_file", "upload_file"],
    "shared.batch.ledger": ["record_run_failure"],
    "shared.batch.mapping": ["Mapping", "MappingError", "load_mapping"],
    "shared.batch.runner": ["LocalRunner", "PipelineRunner", "Upload"],
    "shared.batch.submit": ["SynapseUploadRunner"],
})
