"""Batch files: source mappings, streaming CSV reading, landing with a content-keyed ledger,
and the pipeline runner the blob trigger hands uploads to.

Its public names load on first use, so importing one module of it loads no other. The
datasets' canonical shapes are in `shared.landed`.
"""

from shared.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "shared.batch.ingest": ["BatchFileResult", "upload_file"],
    "shared.batch.mapping": ["Mapping", "MappingError", "load_mapping"],
    "shared.batch.runner": ["LocalRunner", "PipelineRunner", "Upload"],
})
