"""The composition root: settings in, the objects every entry point shares out.

Functions, the HTTP API, the CLI and the tests all reach the lake and the ingest path
through a `Services`, so they behave identically; only the settings differ.
"""

from __future__ import annotations

import logging
from functools import cached_property, lru_cache

from shared.batch.ingest import BatchFileResult
from shared.batch.runner import LocalRunner, PipelineRunner, Upload
from shared.events.ingest import EventBatch, IngestResult, ingest_batch
from shared.lake import Lake
from shared.settings import Settings, current_settings

logger = logging.getLogger("shoplake.ingest")


class Services:
    def __init__(self, settings: Settings, lake: Lake | None = None) -> None:
        self.settings = settings
        if lake is not None:
            self.__dict__["lake"] = lake

    @cached_property
    def lake(self) -> Lake:
        """Opened on first use, so importing the Function app does no I/O."""
        return Lake.from_settings(self.settings)

    @cached_property
    def runner(self) -> PipelineRunner:
        return LocalRunner(self.lake)

    def process_upload(self, path: str) -> BatchFileResult:
        """An uploaded export (a blob under raw/batch/<mapping>/), handed to the runner."""
        result = self.runner.process_upload(Upload.at(self.lake, path))
        logger.info(
            "upload %s (%s): %s received=%d landed=%d quarantined=%d reasons=%s%s",
            result.file, result.mapping, result.status, result.received, result.landed,
            result.quarantined, result.reasons, f" error={result.error}" if result.error else "",
        )
        return result

    def ingest(self, batch: EventBatch) -> IngestResult:
        result = ingest_batch(self.lake, batch, max_event_bytes=self.settings.max_event_bytes)
        logger.info(
            "batch %s: received=%d landed=%d quarantined=%d reasons=%s",
            result.batch, result.received, result.landed, result.quarantined, result.reasons,
        )
        return result


@lru_cache(maxsize=1)
def current_services() -> Services:
    """The process-wide services, built from the environment on first use."""
    return Services(current_settings())
