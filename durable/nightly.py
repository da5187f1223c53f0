"""The nightly run, defined once: refresh what changed, forecast, value customers, retrain,
evaluate, promote, score.

`nightly` is a pure generator: it yields requests (`Call`, `Parallel`, `Wait`) and
receives their results, with no I/O, no clock and no randomness of its own. Two drivers
run it: the Durable orchestrator (`durable.orchestrator`, each request becomes a Durable
task, replayed from history) and the embedded runner (`durable.embedded`, each request is
executed in-process). Both therefore run the same steps in the same order.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

ORCHESTRATION = "nightly_refresh"

PLAN = "plan_refresh"
REFRESH_PARTITION = "refresh_partition"
REFRESH_DIMENSIONS = "refresh_dimensions"
REFRESH_FACTS = "refresh_facts"
REFRESH_KPIS = "refresh_kpis"
FORECAST = "forecast_demand"
VALUE_CUSTOMERS = "predict_customer_value"
START_SYNAPSE = "start_synapse_refresh"
CHECK_SYNAPSE = "check_synapse_refresh"
TRAIN = "train_model"
PROMOTE = "promote_model"
SCORE = "score_customers"
WARM = "warm_serving"
RELEASE = "release_lake"


@dataclass(frozen=True)
class Retry:
    """How an activity is retried: attempts in all, and the wait between two (fixed: the
    Python Durable SDK's RetryOptions has no backoff, and the embedded runner matches it)."""

    interval_s: float
    attempts: int


# Refresh steps are idempotent (rerunning one gives the same tables) and fail mostly on
# storage hiccups or a Delta commit conflict between parallel partitions: retry briskly.
# Training is long and deterministic: a retry only helps a transient read, so try twice.
# Promotion and scoring are cheap and idempotent; forecasts and customer value are
# deterministic replacements of their tables, retried once for a transient read.
RETRIES: dict[str, Retry] = {
    PLAN: Retry(5, 4),
    REFRESH_PARTITION: Retry(2, 6),
    REFRESH_DIMENSIONS: Retry(5, 4),
    REFRESH_FACTS: Retry(5, 4),
    REFRESH_KPIS: Retry(5, 4),
    FORECAST: Retry(30, 2),
    VALUE_CUSTOMERS: Retry(30, 2),
    START_SYNAPSE: Retry(10, 3),
    CHECK_SYNAPSE: Retry(10, 5),
    TRAIN: Retry(60, 2),
    PROMOTE: Retry(5, 4),
    SCORE: Retry(10, 3),
    WARM: Retry(5, 3),
    RELEASE: Retry(5, 3),
}


@dataclass(frozen=True)
class Call:
    """Run one activity with its retry policy; the result is sent back."""

    activity: str
    payload: Any = None

    @property
    def retry(self) -> Retry:
        return RETRIES[self.activity]


@dataclass(frozen=True)
class Parallel:
    """Run these calls at once; the list of their results is sent back."""

    calls: list[Call]


@dataclass(frozen=True)
class Wait:
    """Sleep (a durable timer in Azure): the monitor pattern's pause between polls."""

    seconds: float


Request = Call | Parallel | Wait


@dataclass(frozen=True)
class NightlyInput:
    """What a run is told by its starter (read from the settings there, not here)."""

    started_at: str
    """ISO time the run was started for: training and scoring are stamped with it."""
    runner: str = "local"
    """`local`: refresh activities do the work; `synapse`: they start Synapse runs."""
    max_parallel: int = 4
    """Partitions refreshed at once."""
    poll_seconds: float = 60.0
    """Pause between Synapse status checks."""
    max_polls: int = 240
    """Give up on a Synapse run after this many checks."""

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> NightlyInput:
        return cls(**value)


@dataclass
class Summary:
    """What the run did, step by step; the orchestration's output and `--json`'s."""

    steps: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    forecast_version: str | None = None
    forecast_series: int | None = None
    valued_customers: int | None = None
    at_risk_customers: int | None = None
    model_version: str | None = None
    model_kind: str | None = None
    ndcg_at_10: float | None = None
    promoted: bool = False
    champion: str | None = None
    scored_customers: int | None = None
    prediction_errors: dict[str, str] = field(default_factory=dict)
    """A prediction step that failed after its retries, and why (the run went on)."""
    failed_step: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_step is None


class StepFailed(RuntimeError):
    """An activity failed after all its retries; raised into the generator by a driver."""


def nightly(config: NightlyInput) -> Generator[Request, Any, Summary]:
    """The nightly run. A failed step ends it with the failure in the summary: the refresh
    resumes from its pending plan next time, and the champion stays unless a challenger
    was promoted. A failed prediction step (forecasts, customer value) is only noted.
    Every step holds the lake's writer lease for the run; the last one, in success or
    failure, hands it back."""
    summary = Summary()
    step = PLAN
    try:
        plan = yield Call(PLAN)
        summary.steps.append(step)
        summary.partitions = list(plan["partitions"])
        if config.runner == "synapse":
            step = START_SYNAPSE
            run_id = yield Call(START_SYNAPSE, {"partitions": summary.partitions})
            summary.steps.append(step)
            step = CHECK_SYNAPSE
            yield from _watch_synapse(config, run_id, summary)
        else:
            step = REFRESH_PARTITION
            yield from _refresh_partitions(config, summary)
            for step in (REFRESH_DIMENSIONS, REFRESH_FACTS):
                yield Call(step)
                summary.steps.append(step)
            step = REFRESH_KPIS
            yield Call(REFRESH_KPIS, plan["run_id"])  # a retry after it finished is a no-op
            summary.steps.append(step)
        yield from _predict(config, summary)
        step = TRAIN
        trained = yield Call(TRAIN, {"now": config.started_at})
        summary.steps.append(step)
        summary.model_version = trained["version"]
        summary.model_kind = trained["kind"]
        summary.ndcg_at_10 = trained["ndcg_at_10"]
        step = PROMOTE
        decision = yield Call(PROMOTE, {"version": trained["version"],
                                        "now": config.started_at})
        summary.steps.append(step)
        summary.promoted = decision["promoted"]
        summary.champion = trained["version"] if decision["promoted"] else decision["champion"]
        if decision["promoted"]:
            step = SCORE
            scored = yield Call(SCORE, {"version": trained["version"],
                                        "now": config.started_at})
            summary.steps.append(step)
            summary.scored_customers = scored["customers"]
            step = WARM
            yield Call(WARM)
            summary.steps.append(step)
    except StepFailed as error:
        summary.failed_step, summary.error = step, str(error)
    # The run held the lake's writer lease between its steps; if handing it back fails,
    # it lapses by itself (LAKE_LEASE_KEEP_SECONDS).
    with suppress(StepFailed):
        yield Call(RELEASE)
    return summary


def _predict(config: NightlyInput, summary: Summary) -> Generator[Request, Any, None]:
    """Forecasts, then customer value. Neither feeds the recommender: one that fails after
    its retries is noted in the summary and the run goes on to training (yesterday's
    tables stay)."""
    try:
        forecast = yield Call(FORECAST, {"now": config.started_at})
        summary.steps.append(FORECAST)
        summary.forecast_version = forecast["version"]
        summary.forecast_series = forecast["revenue_series"] + forecast["units_series"]
    except StepFailed as error:
        summary.prediction_errors[FORECAST] = str(error)
    try:
        valued = yield Call(VALUE_CUSTOMERS, {"now": config.started_at})
        summary.steps.append(VALUE_CUSTOMERS)
        summary.valued_customers = valued["customers"]
        summary.at_risk_customers = valued["at_risk"]
    except StepFailed as error:
        summary.prediction_errors[VALUE_CUSTOMERS] = str(error)


def _refresh_partitions(config: NightlyInput, summary: Summary
                        ) -> Generator[Request, Any, None]:
    """One activity per date partition, a bounded number at once."""
    days = summary.partitions
    for start in range(0, len(days), config.max_parallel):
        yield Parallel([Call(REFRESH_PARTITION, day)
                        for day in days[start:start + config.max_parallel]])
    if days:
        summary.steps.append(REFRESH_PARTITION)


def _watch_synapse(config: NightlyInput, run_id: str, summary: Summary
                   ) -> Generator[Request, Any, None]:
    """Wait for the Synapse run with timers (monitor pattern) instead of an activity
    blocking while Spark works."""
    for _ in range(config.max_polls):
        yield Wait(config.poll_seconds)
        status = yield Call(CHECK_SYNAPSE, run_id)
        if status["state"] == "succeeded":
            summary.steps.append(CHECK_SYNAPSE)
            return
        if status["state"] == "failed":
            raise StepFailed(f"Synapse run {run_id} failed: {status['detail']}")
    raise StepFailed(f"Synapse run {run_id} still running after {config.max_polls} checks")
