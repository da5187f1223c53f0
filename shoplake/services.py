"""The composition root: settings in, the objects every entry point shares out.

Functions, the HTTP API, the CLI and the tests all reach the lake and the ingest path
through a `Services`, so they behave identically; only the settings differ. The layers
below never import this module: the nightly run is handed a `Services` as its
`durable.activities.NightlyServices`.
"""

from __future__ import annotations

import logging
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from shared.batch.ingest import BatchFileResult
from shared.batch.runner import LocalRunner, PipelineRunner, Upload
from shared.events.ingest import EventBatch, IngestResult, ingest_event_batch
from shared.lake import Lake
from shared.settings import Settings, current_settings

if TYPE_CHECKING:
    from datetime import datetime

    from model.customer_value import CustomerValueResult
    from model.forecast.run import ForecastResult
    from model.predictions import Predictions
    from model.retrain import RetrainResult
    from model.scoring import ModelKind
    from model.serving import Recommender
    from model.train import Progress, TrainingConfig, TrainResult
    from shared.analytics import KpiReader
    from shared.profiles import ProfileStore
    from shared.synapse import SynapseRunner

logger = logging.getLogger("shoplake.ingest")
profiles_logger = logging.getLogger("shoplake.profiles")


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
    def profiles(self) -> ProfileStore | None:
        """Live shopper profiles, or None when not configured; opened on first use."""
        from shared.profiles import open_profile_store  # the Tables SDK only when needed

        return open_profile_store(self.settings)

    @cached_property
    def kpis(self) -> KpiReader:
        """The KPIs of the lake, cached per table version (tables load on first use)."""
        from shared.analytics import KpiReader

        return KpiReader(self.lake)

    @cached_property
    def recommender(self) -> Recommender:
        """The serving recommender: the champion loads on the first request, not here."""
        from model.registry import Registry
        from model.serving import Recommender

        return Recommender(Registry(self.lake), self.profiles,
                           reload_after_s=self.settings.model_reload_seconds)

    @cached_property
    def predictions(self) -> Predictions:
        """Forecasts and customer value as the API serves them (loaded on first use)."""
        from model.predictions import Predictions

        return Predictions(self.lake, reload_seconds=self.settings.model_reload_seconds)

    def forecast(self, now: datetime) -> tuple[ForecastResult, CustomerValueResult]:
        """The nightly run's prediction steps on their own: forecasts, then customer value."""
        from model.customer_value import predict_customer_value
        from model.forecast.run import ForecastConfig, run_forecasts

        # Held throughout, as the nightly run holds it: a busy lake is known before the work.
        with self.lake.writer():
            return (run_forecasts(self.lake, now, ForecastConfig.from_settings(self.settings)),
                    predict_customer_value(self.lake, now,
                                           at_risk_below=self.settings.customer_at_risk_below))

    def training_config(self, kind: ModelKind | None = None) -> TrainingConfig:
        from model.train import TrainingConfig

        return TrainingConfig(test_days=self.settings.recommender_test_days,
                              ease_max_items=self.settings.recommender_ease_max_items,
                              kind=kind)

    def train(self, now: datetime, *, kind: ModelKind | None = None,
              progress: Progress = lambda _: None) -> TrainResult:
        """Train and register a challenger (not promoted)."""
        from model.train import train

        return train(self.lake, now, self.training_config(kind), progress)

    def retrain(self, now: datetime, *, kind: ModelKind | None = None,
                progress: Progress = lambda _: None) -> RetrainResult:
        """Train a challenger, decide on promotion, score customers when promoted."""
        from model.retrain import retrain

        return retrain(self.lake, now, config=self.training_config(kind),
                       tolerance=self.settings.promotion_tolerance,
                       active_days=self.settings.scoring_active_days, progress=progress)

    @cached_property
    def synapse(self) -> SynapseRunner:
        """The Synapse pipeline runner of REFRESH_RUNNER=synapse (clear error when unset)."""
        from shared.settings import ConfigurationError
        from shared.synapse import open_synapse_runner

        runner = open_synapse_runner(self.settings.synapse_endpoint,
                                     self.settings.synapse_pipeline,
                                     self.settings.azure_client_id)
        if runner is None:
            raise ConfigurationError("REFRESH_RUNNER=synapse needs SYNAPSE_ENDPOINT and "
                                     "SYNAPSE_PIPELINE")
        return runner

    @cached_property
    def runner(self) -> PipelineRunner:
        """Who processes uploads: a Synapse pipeline run per file (REFRESH_RUNNER=synapse),
        or this process."""
        if self.settings.refresh_runner == "synapse":
            from shared.batch.submit import SynapseUploadRunner  # the Synapse SDK when needed

            return SynapseUploadRunner(self.lake, self.synapse)
        return LocalRunner(self.lake)

    def process_upload(self, path: str) -> BatchFileResult:
        """An uploaded export (a blob under raw/batch/<mapping>/), handed to the runner."""
        result = self.runner.process_upload(Upload.at(self.lake, path))
        if result.status == "queued":
            logger.info("upload %s (%s): queued as Synapse run %s", result.file,
                        result.mapping, result.run_id)
            return result
        logger.info(
            "upload %s (%s): %s received=%d landed=%d quarantined=%d reasons=%s%s%s",
            result.file, result.mapping, result.status, result.received, result.landed,
            result.quarantined, result.reasons, f" error={result.error}" if result.error else "",
            f" run={result.run_id}" if result.run_id else "",
        )
        return result

    def ingest(self, batch: EventBatch) -> IngestResult:
        result = ingest_event_batch(self.lake, batch, max_event_bytes=self.settings.max_event_bytes)
        logger.info(
            "batch %s: received=%d landed=%d quarantined=%d reasons=%s",
            result.batch, result.received, result.landed, result.quarantined, result.reasons,
        )
        self._record_profiles(result)
        return result

    def _record_profiles(self, result: IngestResult) -> None:
        """Update live profiles from a landed batch; never fails the ingest."""
        if result.landed == 0:
            return
        try:
            profiles = self.profiles
            if profiles is not None:
                written = profiles.record(result.landed_events)
                profiles_logger.debug("batch %s: %d profile entities", result.batch, written)
        except Exception:
            # The raw zone already holds the batch, and profiles are only a cache that the
            # nightly retrain supersedes: log and carry on rather than fail (or make the
            # source redeliver) an ingest that succeeded.
            profiles_logger.exception("batch %s: live profiles not updated", result.batch)


@lru_cache(maxsize=1)
def current_services() -> Services:
    """The process-wide services, built from the environment on first use."""
    return Services(current_settings())
