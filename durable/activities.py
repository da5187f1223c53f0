"""The nightly run's activities: thin calls into `shared` and `model`, JSON in and out.

The Durable activity functions (`durable.blueprint`) and the embedded runner
(`durable.embedded`) both call `run_activity`, with the process's services (anything
that is a `NightlyServices`) and an input made by `activity_input`: the step's payload and
the run it belongs to, which holds the lake's writer lease for all its steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from durable import nightly as steps
from model.batch_scoring import score_customers
from model.promotion import decide
from model.registry import Registry
from shared import warehouse

if TYPE_CHECKING:
    from model.serving import Recommender
    from model.train import TrainResult
    from shared.lake import Lake
    from shared.settings import Settings
    from shared.synapse import SynapseRunner


class NightlyServices(Protocol):
    """What the activities use of the process's services; the entry layer's `Services`
    provides it (durable never imports the entry layer: it is handed one)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def lake(self) -> Lake: ...

    @property
    def synapse(self) -> SynapseRunner: ...

    @property
    def recommender(self) -> Recommender: ...

    def train(self, now: datetime) -> TrainResult:
        """Train and register a challenger (not promoted)."""


Activity = Callable[[NightlyServices, Any], Any]


def plan_refresh(services: NightlyServices, _: Any) -> dict[str, Any]:
    return warehouse.plan_refresh(services.lake).to_json()


def refresh_partition(services: NightlyServices, day: str) -> list[dict[str, Any]]:
    return [asdict(t) for t in warehouse.refresh_partition(services.lake,
                                                           date.fromisoformat(day))]


def refresh_dimensions(services: NightlyServices, _: Any) -> list[dict[str, Any]]:
    return [asdict(t) for t in warehouse.refresh_dimensions(services.lake)]


def refresh_facts(services: NightlyServices, _: Any) -> list[dict[str, Any]]:
    return [asdict(t) for t in warehouse.refresh_facts(services.lake)]


def refresh_kpis(services: NightlyServices, run_id: str) -> list[dict[str, Any]]:
    return [asdict(t) for t in warehouse.refresh_kpis(services.lake, run_id)]


def start_synapse_refresh(services: NightlyServices, payload: dict[str, Any]) -> str:
    """The Spark job refreshes as part of this run (`writer`), which holds the lake."""
    return services.synapse.start("refresh", {"partitions": payload["partitions"],
                                              "writer": payload["writer"]})


def check_synapse_refresh(services: NightlyServices, run_id: str) -> dict[str, Any]:
    return asdict(services.synapse.status(run_id))


def forecast_demand(services: NightlyServices, payload: dict[str, Any]) -> dict[str, Any]:
    # statsforecast (and pandas) load when a worker forecasts, not when the app starts.
    from model.forecast.run import ForecastConfig, run_forecasts

    return asdict(run_forecasts(services.lake, datetime.fromisoformat(payload["now"]),
                                ForecastConfig.from_settings(services.settings)))


def value_customers(services: NightlyServices, payload: dict[str, Any]) -> dict[str, Any]:
    from model.customer_value import predict_customer_value

    return asdict(predict_customer_value(
        services.lake, datetime.fromisoformat(payload["now"]),
        at_risk_below=services.settings.customer_at_risk_below))


def train_model(services: NightlyServices, payload: dict[str, Any]) -> dict[str, Any]:
    manifest = services.train(datetime.fromisoformat(payload["now"])).manifest
    return {"version": manifest.version, "kind": manifest.kind, "ndcg_at_10": manifest.ndcg}


def promote_model(services: NightlyServices, payload: dict[str, Any]) -> dict[str, Any]:
    decision = decide(Registry(services.lake), payload["version"],
                      datetime.fromisoformat(payload["now"]),
                      services.settings.promotion_tolerance)
    return asdict(decision)


def score(services: NightlyServices, payload: dict[str, Any]) -> dict[str, Any]:
    return asdict(score_customers(services.lake, payload["version"],
                                  datetime.fromisoformat(payload["now"]),
                                  active_days=services.settings.scoring_active_days))


def warm_serving(services: NightlyServices, _: Any) -> dict[str, Any]:
    """Load the champion into this worker's recommender, so its first request is fast."""
    return {"version": services.recommender.model().version}


def activity_input(writer: str, payload: Any) -> dict[str, Any]:
    """What a driver sends an activity: its payload, and the run (`writer`) it is part of."""
    return {"writer": writer, "input": payload}


def run_activity(services: NightlyServices, name: str, request: dict[str, Any]) -> Any:
    """Run activity `name` holding the lake for its run (`release_lake` ends the run)."""
    writer = request["writer"]
    if name == steps.RELEASE:
        return services.lake.release_writer(writer)
    payload = request["input"]
    if name == steps.START_SYNAPSE:  # the only step whose work another process does
        payload = {**payload, "writer": writer}
    with services.lake.writer(writer):
        return ACTIVITIES[name](services, payload)


ACTIVITIES: dict[str, Activity] = {
    steps.PLAN: plan_refresh,
    steps.REFRESH_PARTITION: refresh_partition,
    steps.REFRESH_DIMENSIONS: refresh_dimensions,
    steps.REFRESH_FACTS: refresh_facts,
    steps.REFRESH_KPIS: refresh_kpis,
    steps.FORECAST: forecast_demand,
    steps.VALUE_CUSTOMERS: value_customers,
    steps.START_SYNAPSE: start_synapse_refresh,
    steps.CHECK_SYNAPSE: check_synapse_refresh,
    steps.TRAIN: train_model,
    steps.PROMOTE: promote_model,
    steps.SCORE: score,
    steps.WARM: warm_serving,
}
"""Every activity of the definition that does work, by name."""

ACTIVITY_NAMES: tuple[str, ...] = (*ACTIVITIES, steps.RELEASE)
"""Every activity of the definition."""
