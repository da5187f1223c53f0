"""The nightly orchestrator replayed by the Durable SDK's own engine over JSON histories.

Each test writes the history the Durable extension would hold at some point of a run
(`tests.durable.history`), hands it to `Orchestrator.create(nightly_refresh)` exactly as
the Functions host would, and checks the orchestrator's answer: the actions scheduled so
far, whether it is done, its output, error and custom status. Both replay protocols are
covered: the legacy one and the one the Durable extension 2.x negotiates.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import pytest
from azure.durable_functions.models.actions.ActionType import ActionType

from durable.nightly import (
    CHECK_SYNAPSE,
    FORECAST,
    ORCHESTRATION,
    PLAN,
    PROMOTE,
    REFRESH_DIMENSIONS,
    REFRESH_FACTS,
    REFRESH_KPIS,
    REFRESH_PARTITION,
    RELEASE,
    RETRIES,
    SCORE,
    START_SYNAPSE,
    TRAIN,
    VALUE_CUSTOMERS,
    WARM,
    NightlyInput,
)
from tests.durable.functions import user_function
from tests.durable.history import History, Replay, drive, replay, stamp, trigger_input

STARTED = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
STARTED_AT = STARTED.isoformat()
RUN_ID = "0f3a9c"  # names the plan; the KPI step is given it
DAYS = ["2026-11-22", "2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
# Activity outputs shaped like the real ones (durable.activities).
TRAINED = {"version": "20261128T020000Z-ease-1a2b3c", "kind": "ease", "ndcg_at_10": 0.31}
PROMOTED = {"challenger": TRAINED["version"], "champion": "20261127T020000Z-ease-0f0f0f",
            "promoted": True, "reason": "not worse"}
KEPT = {"challenger": TRAINED["version"], "champion": "20261127T020000Z-ease-0f0f0f",
        "promoted": False, "reason": "worse than the champion"}
FORECASTED = {"version": "20261128T020000Z-forecasts-4d5e6f", "as_of": "2026-11-27",
              "revenue_series": 11, "units_series": 240, "revenue": None, "units": None,
              "skipped": None}
VALUED = {"version": "20261128T020000Z-customer_value-7a8b9c", "customers": 420,
          "at_risk": 37, "as_of": "2026-11-27", "skipped": None}
REFRESHED: list[dict[str, Any]] = [
    {"table": "fact_sales", "action": "partitions", "partitions": 1, "seconds": 0.2}]


def _registered_orchestrator():
    """The Function the app registers as `nightly_refresh`: an `Orchestrator.create`
    handle around our generator function."""
    return user_function(ORCHESTRATION)


REGISTERED = _registered_orchestrator()
NIGHTLY = df.Orchestrator.create(REGISTERED.orchestrator_function)


@pytest.fixture(params=["v1", "v3"])
def schema(request: pytest.FixtureRequest) -> str:
    return request.param


def new_history(**config: Any) -> History:
    run = NightlyInput(started_at=STARTED_AT, **config)
    return History(ORCHESTRATION, "nightly-2026-11-28", asdict(run), STARTED)


def through_refresh(history: History, days: list[str] = DAYS, max_parallel: int = 4) -> None:
    """The local refresh as it completes: plan, partitions in groups, dims, facts, KPIs."""
    history.call(PLAN, {"full": False, "resumed": False, "partitions": days, "run_id": RUN_ID})
    for start in range(0, len(days), max_parallel):
        history.parallel(REFRESH_PARTITION,
                         [(day, REFRESHED) for day in days[start:start + max_parallel]])
    history.call(REFRESH_DIMENSIONS, REFRESHED)
    history.call(REFRESH_FACTS, REFRESHED)
    history.call(REFRESH_KPIS, REFRESHED, RUN_ID)


def predicted(history: History) -> None:
    """The forecast and customer-value steps, after the refresh."""
    history.call(FORECAST, FORECASTED, {"now": STARTED_AT})
    history.call(VALUE_CUSTOMERS, VALUED, {"now": STARTED_AT})


def released(history: History) -> None:
    """The run's last step: the lake's writer lease handed back."""
    history.call(RELEASE, True)


def new_yields(before: Replay, after: Replay) -> list[list[tuple[str, Any]]]:
    """What `after`'s episode scheduled (actions are cumulative, one entry per yield)."""
    assert after.yields[:len(before.yields)] == before.yields
    return after.yields[len(before.yields):]


# 1. The first episode ----------------------------------------------------------------------

def test_first_episode_schedules_only_the_plan_with_its_retry_policy(schema: str) -> None:
    run = replay(NIGHTLY, new_history(), schema)

    assert run.error is None and not run.done
    assert run.yields == [[(PLAN, None)]]
    (plan,) = run.calls
    assert plan["actionType"] == ActionType.CALL_ACTIVITY_WITH_RETRY
    assert plan["retryOptions"] == {
        "firstRetryIntervalInMilliseconds": int(RETRIES[PLAN].interval_s * 1000),
        "maxNumberOfAttempts": RETRIES[PLAN].attempts}
    assert run.custom_status == {"step": PLAN}


def test_the_registered_function_is_the_same_orchestrator(schema: str) -> None:
    history = new_history()
    history.call(PLAN, {"partitions": DAYS, "run_id": RUN_ID})

    assert REGISTERED(trigger_input(history, schema)) == NIGHTLY(trigger_input(history, schema))


# 2. Bounded fan-out ------------------------------------------------------------------------

def test_partitions_fan_out_in_groups_of_max_parallel(schema: str) -> None:
    history = new_history(max_parallel=4)
    history.call(PLAN, {"full": False, "resumed": False, "partitions": DAYS, "run_id": RUN_ID})
    planned = replay(NIGHTLY, history, schema)
    assert new_yields(replay(NIGHTLY, new_history(), schema), planned) == [
        [(REFRESH_PARTITION, day) for day in DAYS[:4]]]
    assert planned.custom_status == {"step": f"{REFRESH_PARTITION} x4"}

    first = [history.scheduled(REFRESH_PARTITION, day) for day in DAYS[:4]]
    history.next_episode()
    for task_id in reversed(first[1:]):  # three of the four are back, in any order
        history.completed(task_id, REFRESHED)
    waiting = replay(NIGHTLY, history, schema)
    assert new_yields(planned, waiting) == []  # the fifth day waits for the whole group

    history.completed(first[0], REFRESHED)
    second_group = replay(NIGHTLY, history, schema)
    assert new_yields(planned, second_group) == [
        [(REFRESH_PARTITION, day) for day in DAYS[4:]]]

    history.parallel(REFRESH_PARTITION, [(day, REFRESHED) for day in DAYS[4:]], order=[1, 0])
    after = replay(NIGHTLY, history, schema)
    assert new_yields(second_group, after) == [[(REFRESH_DIMENSIONS, None)]]
    assert all(call["retryOptions"]["maxNumberOfAttempts"] == RETRIES[REFRESH_PARTITION].attempts
               for call in after.calls if call["functionName"] == REFRESH_PARTITION)


def test_nothing_to_refresh_goes_straight_to_the_dimensions(schema: str) -> None:
    history = new_history()
    history.call(PLAN, {"full": False, "resumed": False, "partitions": [], "run_id": RUN_ID})

    assert replay(NIGHTLY, history, schema).yields == [[(PLAN, None)],
                                                       [(REFRESH_DIMENSIONS, None)]]


# 3. Retries ----------------------------------------------------------------------------------

def test_a_transient_failure_is_retried_by_the_extension_and_the_run_goes_on(schema: str
                                                                             ) -> None:
    history = new_history()
    first = replay(NIGHTLY, history, schema)
    plan_id = history.scheduled(PLAN)
    history.next_episode()
    history.failed(plan_id, "IOError", "storage hiccup")
    failed_once = replay(NIGHTLY, history, schema)
    # Nothing new and no error: the CallActivityWithRetry action already told the extension
    # to retry, so the orchestrator waits for the retry timer and the second attempt.
    assert failed_once.error is None and not failed_once.done
    assert failed_once.yields == first.yields

    retry_at = history.now + timedelta(seconds=RETRIES[PLAN].interval_s)
    timer_id = history.timer_created(retry_at)
    history.next_episode(RETRIES[PLAN].interval_s)
    history.fired(timer_id, retry_at)
    assert replay(NIGHTLY, history, schema).yields == first.yields

    history.call(PLAN, {"full": False, "resumed": False, "partitions": DAYS[:2], "run_id": RUN_ID})
    retried = replay(NIGHTLY, history, schema)
    assert retried.error is None
    assert new_yields(first, retried) == [[(REFRESH_PARTITION, day) for day in DAYS[:2]]]


def test_a_partition_retried_inside_the_fan_out_rejoins_its_group(schema: str) -> None:
    history = new_history()
    history.call(PLAN, {"full": False, "resumed": False, "partitions": DAYS[:3], "run_id": RUN_ID})
    ids = [history.scheduled(REFRESH_PARTITION, day) for day in DAYS[:3]]
    history.next_episode()
    history.completed(ids[0], REFRESHED)
    history.failed(ids[1], "CommitFailedError", "concurrent Delta commit")
    history.completed(ids[2], REFRESHED)
    retry_at = history.now + timedelta(seconds=2)
    timer_id = history.timer_created(retry_at)
    history.next_episode(2)
    history.fired(timer_id, retry_at)
    history.call(REFRESH_PARTITION, REFRESHED, DAYS[1])
    history.call(REFRESH_DIMENSIONS, REFRESHED)

    run = replay(NIGHTLY, history, schema)

    assert run.error is None
    assert run.yields[1:] == [[(REFRESH_PARTITION, day) for day in DAYS[:3]],
                              [(REFRESH_DIMENSIONS, None)], [(REFRESH_FACTS, None)]]


# 4. A failed training run ----------------------------------------------------------------

def test_training_that_fails_every_attempt_fails_the_run_and_keeps_the_champion(schema: str
                                                                                ) -> None:
    history = new_history()
    through_refresh(history)
    predicted(history)
    history.call_fails(TRAIN, RETRIES[TRAIN].attempts, "NoPurchasesError",
                       "curated/fact_sales holds no purchases", {"now": STARTED_AT},
                       retry_s=RETRIES[TRAIN].interval_s)
    assert replay(NIGHTLY, history, schema).yields[-1] == [(RELEASE, None)]
    released(history)

    run = replay(NIGHTLY, history, schema)

    assert not run.done
    assert run.error is not None and run.state["error"] == run.error
    assert "nightly run failed at train_model" in run.error
    assert "NoPurchasesError" in run.error
    scheduled = {name for group in run.yields for name, _ in group}
    assert TRAIN in scheduled
    assert scheduled.isdisjoint({PROMOTE, SCORE, WARM})
    assert run.custom_status == {
        "steps": [PLAN, REFRESH_PARTITION, REFRESH_DIMENSIONS, REFRESH_FACTS, REFRESH_KPIS,
                  FORECAST, VALUE_CUSTOMERS],
        "failed_step": TRAIN}


def test_training_that_failed_once_is_not_yet_a_failure(schema: str) -> None:
    history = new_history()
    through_refresh(history)
    predicted(history)
    history.call_fails(TRAIN, RETRIES[TRAIN].attempts - 1, "IOError", "read timed out",
                       {"now": STARTED_AT})

    run = replay(NIGHTLY, history, schema)

    assert run.error is None and not run.done
    assert run.yields[-1] == [(TRAIN, {"now": STARTED_AT})]


def test_a_partition_failing_every_attempt_fails_the_run_at_the_refresh(schema: str) -> None:
    history = new_history()
    history.call(PLAN, {"full": False, "resumed": False, "partitions": DAYS[:2], "run_id": RUN_ID})
    ids = [history.scheduled(REFRESH_PARTITION, day) for day in DAYS[:2]]
    history.next_episode()
    history.completed(ids[0], REFRESHED)
    retry_id = ids[1]
    for attempt in range(RETRIES[REFRESH_PARTITION].attempts):
        if attempt:
            retry_id = history.scheduled(REFRESH_PARTITION, DAYS[1])
            history.next_episode()
        history.failed(retry_id, "OSError", "disk full")
        history.wait(2)
    released(history)

    run = replay(NIGHTLY, history, schema)

    assert run.error is not None and "failed at refresh_partition" in run.error
    assert "disk full" in run.error
    assert {name for group in run.yields for name, _ in group} == {
        PLAN, REFRESH_PARTITION, RELEASE}


@pytest.mark.parametrize("failing", [REFRESH_DIMENSIONS, REFRESH_FACTS, REFRESH_KPIS])
def test_a_failed_refresh_step_is_reported_under_its_own_name(schema: str, failing: str
                                                              ) -> None:
    history = new_history()
    history.call(PLAN, {"full": False, "resumed": False, "partitions": DAYS[:1], "run_id": RUN_ID})
    history.parallel(REFRESH_PARTITION, [(DAYS[0], REFRESHED)])
    for step in (REFRESH_DIMENSIONS, REFRESH_FACTS, REFRESH_KPIS):
        payload = RUN_ID if step == REFRESH_KPIS else None
        if step == failing:
            history.call_fails(step, RETRIES[step].attempts, "RefreshStepError", "broken",
                               payload)
            break
        history.call(step, REFRESHED, payload)
    released(history)

    run = replay(NIGHTLY, history, schema)

    assert run.error is not None
    assert run.custom_status["failed_step"] == failing
    assert f"failed at {failing}" in run.error


@pytest.mark.parametrize("failing", [FORECAST, VALUE_CUSTOMERS])
def test_a_failed_prediction_step_is_noted_and_the_run_goes_on(schema: str, failing: str
                                                               ) -> None:
    history = new_history()
    through_refresh(history)
    for step, result in ((FORECAST, FORECASTED), (VALUE_CUSTOMERS, VALUED)):
        if step == failing:
            history.call_fails(step, RETRIES[step].attempts, "FloatingPointError",
                               "not finite", {"now": STARTED_AT},
                               retry_s=RETRIES[step].interval_s)
        else:
            history.call(step, result, {"now": STARTED_AT})
    history.call(TRAIN, TRAINED, {"now": STARTED_AT})
    history.call(PROMOTE, KEPT, {"version": TRAINED["version"], "now": STARTED_AT})
    released(history)

    run = replay(NIGHTLY, history, schema)

    assert run.done and run.error is None
    assert run.output["failed_step"] is None
    assert list(run.output["prediction_errors"]) == [failing]
    assert "not finite" in run.output["prediction_errors"][failing]
    assert failing not in run.output["steps"] and TRAIN in run.output["steps"]


# 5. The whole run ------------------------------------------------------------------------

def test_a_promoting_run_completes_with_its_summary(schema: str) -> None:
    history = new_history()
    through_refresh(history)
    predicted(history)
    history.call(TRAIN, TRAINED, {"now": STARTED_AT})
    history.call(PROMOTE, PROMOTED, {"version": TRAINED["version"], "now": STARTED_AT})
    history.call(SCORE, {"customers": 420}, {"version": TRAINED["version"], "now": STARTED_AT})
    history.call(WARM, {"version": TRAINED["version"]})
    released(history)

    run = replay(NIGHTLY, history, schema)

    assert run.done and run.error is None
    assert run.yields == [
        [(PLAN, None)],
        [(REFRESH_PARTITION, day) for day in DAYS[:4]],
        [(REFRESH_PARTITION, day) for day in DAYS[4:]],
        [(REFRESH_DIMENSIONS, None)], [(REFRESH_FACTS, None)], [(REFRESH_KPIS, RUN_ID)],
        [(FORECAST, {"now": STARTED_AT})], [(VALUE_CUSTOMERS, {"now": STARTED_AT})],
        [(TRAIN, {"now": STARTED_AT})],
        [(PROMOTE, {"version": TRAINED["version"], "now": STARTED_AT})],
        [(SCORE, {"version": TRAINED["version"], "now": STARTED_AT})],
        [(WARM, None)],
        [(RELEASE, None)],
    ]
    for call in run.calls:
        retry = RETRIES[call["functionName"]]
        assert call["actionType"] == ActionType.CALL_ACTIVITY_WITH_RETRY
        assert call["retryOptions"] == {
            "firstRetryIntervalInMilliseconds": int(retry.interval_s * 1000),
            "maxNumberOfAttempts": retry.attempts}
    assert run.output == {
        "steps": [PLAN, REFRESH_PARTITION, REFRESH_DIMENSIONS, REFRESH_FACTS, REFRESH_KPIS,
                  FORECAST, VALUE_CUSTOMERS, TRAIN, PROMOTE, SCORE, WARM],
        "partitions": DAYS, "forecast_version": FORECASTED["version"],
        "forecast_series": 251, "valued_customers": 420, "at_risk_customers": 37,
        "model_version": TRAINED["version"], "model_kind": "ease",
        "ndcg_at_10": 0.31, "promoted": True, "champion": TRAINED["version"],
        "scored_customers": 420, "prediction_errors": {}, "failed_step": None,
        "error": None}
    assert run.custom_status == {"steps": run.output["steps"], "failed_step": None}


def test_a_challenger_that_is_not_promoted_is_neither_scored_nor_warmed(schema: str) -> None:
    history = new_history()
    through_refresh(history)
    predicted(history)
    history.call(TRAIN, TRAINED, {"now": STARTED_AT})
    history.call(PROMOTE, KEPT, {"version": TRAINED["version"], "now": STARTED_AT})
    released(history)

    run = replay(NIGHTLY, history, schema)

    assert run.done and run.error is None
    assert run.yields[-2:] == [[(PROMOTE, {"version": TRAINED["version"], "now": STARTED_AT})],
                               [(RELEASE, None)]]
    assert {name for group in run.yields for name, _ in group}.isdisjoint({SCORE, WARM})
    assert run.output["promoted"] is False
    assert run.output["champion"] == KEPT["champion"]
    assert run.output["steps"][-2:] == [TRAIN, PROMOTE]
    assert run.output["scored_customers"] is None


# 6. Synapse: the monitor pattern ---------------------------------------------------------

POLL_S = 90.0


def synapse_history(**config: Any) -> History:
    history = new_history(runner="synapse", poll_seconds=POLL_S, **config)
    history.call(PLAN, {"full": False, "resumed": False, "partitions": DAYS[:2], "run_id": RUN_ID})
    history.call(START_SYNAPSE, "run-7", {"partitions": DAYS[:2]})
    return history


def _status(state: str, detail: str) -> dict[str, str]:
    return {"run_id": "run-7", "state": state, "detail": detail}


def test_synapse_runs_are_watched_with_durable_timers(schema: str) -> None:
    history = synapse_history()
    started = replay(NIGHTLY, history, schema)
    assert started.yields[:2] == [[(PLAN, None)], [(START_SYNAPSE, {"partitions": DAYS[:2]})]]
    # The timer is due poll_seconds after this episode's start: the orchestrator's clock.
    assert started.yields[2:] == [[("timer", stamp(history.now + timedelta(seconds=POLL_S)))]]
    assert started.custom_status == {"step": "waiting"}

    history.wait(POLL_S)
    assert new_yields(started, checking := replay(NIGHTLY, history, schema)) == [
        [(CHECK_SYNAPSE, "run-7")]]

    history.call(CHECK_SYNAPSE, _status("running", "InProgress"), "run-7")
    still_running = replay(NIGHTLY, history, schema)
    assert new_yields(checking, still_running) == [
        [("timer", stamp(history.now + timedelta(seconds=POLL_S)))]]

    history.wait(POLL_S)
    history.call(CHECK_SYNAPSE, _status("succeeded", "Succeeded"), "run-7")
    succeeded = replay(NIGHTLY, history, schema)
    assert new_yields(still_running, succeeded) == [[(CHECK_SYNAPSE, "run-7")],
                                                    [(FORECAST, {"now": STARTED_AT})]]
    assert {name for group in succeeded.yields for name, _ in group}.isdisjoint(
        {REFRESH_PARTITION, REFRESH_DIMENSIONS, REFRESH_FACTS, REFRESH_KPIS})

    predicted(history)
    history.call(TRAIN, TRAINED, {"now": STARTED_AT})
    history.call(PROMOTE, KEPT, {"version": TRAINED["version"], "now": STARTED_AT})
    released(history)
    done = replay(NIGHTLY, history, schema)
    assert done.done
    assert done.output["steps"] == [PLAN, START_SYNAPSE, CHECK_SYNAPSE, FORECAST,
                                    VALUE_CUSTOMERS, TRAIN, PROMOTE]


def test_a_failed_synapse_run_fails_the_run_with_synapse_detail(schema: str) -> None:
    history = synapse_history()
    history.wait(POLL_S)
    history.call(CHECK_SYNAPSE, _status("failed", "Failed: Spark job OOM"), "run-7")
    released(history)

    run = replay(NIGHTLY, history, schema)

    assert run.error is not None
    assert "Synapse run run-7 failed: Failed: Spark job OOM" in run.error
    assert run.custom_status["failed_step"] in {START_SYNAPSE, CHECK_SYNAPSE}
    assert TRAIN not in {name for group in run.yields for name, _ in group}


def test_a_synapse_run_still_running_after_max_polls_fails_the_run(schema: str) -> None:
    history = synapse_history(max_polls=2)
    for _ in range(2):
        history.wait(POLL_S)
        history.call(CHECK_SYNAPSE, _status("running", "Queued"), "run-7")
    released(history)

    run = replay(NIGHTLY, history, schema)

    assert run.error is not None and "still running after 2 checks" in run.error
    assert [name for group in run.yields for name, _ in group].count("timer") == 2


def test_a_whole_run_driven_episode_by_episode(schema: str) -> None:
    """The extension's loop end to end: each episode's new actions are carried out (one
    partition fails once and is retried) and their outcomes fed back, until the end."""
    outputs = {PLAN: {"full": False, "resumed": False, "partitions": DAYS, "run_id": RUN_ID},
               REFRESH_PARTITION: REFRESHED, REFRESH_DIMENSIONS: REFRESHED,
               REFRESH_FACTS: REFRESHED, REFRESH_KPIS: REFRESHED, FORECAST: FORECASTED,
               VALUE_CUSTOMERS: VALUED, TRAIN: TRAINED,
               PROMOTE: PROMOTED, SCORE: {"customers": 7}, WARM: {"version": "v"},
               RELEASE: True}
    executed: list[tuple[str, Any]] = []

    def execute(name: str, input_json: str) -> str:
        request = json.loads(input_json)
        assert request["writer"] == "nightly-2026-11-28"  # every step holds the lake for it
        payload = request["input"]
        executed.append((name, payload))
        if (name, payload) == (REFRESH_PARTITION, DAYS[2]) and executed.count(
                (name, payload)) == 1:
            raise OSError("storage hiccup")
        return json.dumps(outputs[name])

    run = drive(NIGHTLY, new_history(), execute, schema)

    assert run.done and run.error is None
    assert run.output["steps"] == [PLAN, REFRESH_PARTITION, REFRESH_DIMENSIONS, REFRESH_FACTS,
                                   REFRESH_KPIS, FORECAST, VALUE_CUSTOMERS, TRAIN, PROMOTE,
                                   SCORE, WARM]
    assert executed.count((REFRESH_PARTITION, DAYS[2])) == 2
    assert [call for call in executed if call != (REFRESH_PARTITION, DAYS[2])] == [
        (name, payload) for group in run.yields for name, payload in group
        if (name, payload) != (REFRESH_PARTITION, DAYS[2])]


def test_a_status_check_that_keeps_failing_is_reported_as_the_check(schema: str) -> None:
    history = synapse_history()
    history.wait(POLL_S)
    history.call_fails(CHECK_SYNAPSE, RETRIES[CHECK_SYNAPSE].attempts, "SynapseError",
                       "403 Forbidden", "run-7")
    released(history)

    run = replay(NIGHTLY, history, schema)

    assert run.error is not None and "403 Forbidden" in run.error
    assert run.custom_status["failed_step"] == CHECK_SYNAPSE


# 7. Determinism ----------------------------------------------------------------------------

def _full_run_history() -> History:
    history = new_history()
    through_refresh(history)
    predicted(history)
    history.call(TRAIN, TRAINED, {"now": STARTED_AT}, failures=1)
    history.call(PROMOTE, PROMOTED, {"version": TRAINED["version"], "now": STARTED_AT})
    history.call(SCORE, {"customers": 420}, {"version": TRAINED["version"], "now": STARTED_AT})
    history.call(WARM, {"version": TRAINED["version"]})
    released(history)
    return history


def test_replaying_a_history_is_deterministic(schema: str) -> None:
    history = _full_run_history()

    first = NIGHTLY(trigger_input(history, schema))
    again = NIGHTLY(trigger_input(history, schema))
    fresh = df.Orchestrator.create(REGISTERED.orchestrator_function)(
        trigger_input(history, schema))

    assert first == again == fresh


def test_every_episode_replays_the_actions_of_the_ones_before(schema: str) -> None:
    """Each episode's answer extends the previous one's actions: replay never reorders
    or changes what an earlier episode scheduled, and the last one is the whole run."""
    history = _full_run_history()
    previous: Replay | None = None
    for episode in history.episodes():
        current = replay(NIGHTLY, episode, schema)
        if previous is not None:
            assert current.yields[:len(previous.yields)] == previous.yields
        previous = current
    assert previous is not None and previous.done
    assert previous.raw == replay(NIGHTLY, history, schema).raw


# 8. The lake's writer lease --------------------------------------------------------------

def test_every_step_names_its_instance_as_the_writer(schema: str) -> None:
    history = _full_run_history()

    run = replay(NIGHTLY, history, schema)

    assert run.done
    assert {json.loads(call["input"])["writer"] for call in run.calls} == {history.instance_id}
    assert run.yields[-1] == [(RELEASE, None)]


def test_a_release_that_fails_does_not_fail_the_run(schema: str) -> None:
    history = new_history()
    through_refresh(history)
    predicted(history)
    history.call(TRAIN, TRAINED, {"now": STARTED_AT})
    history.call(PROMOTE, KEPT, {"version": TRAINED["version"], "now": STARTED_AT})
    history.call_fails(RELEASE, RETRIES[RELEASE].attempts, "ServiceRequestError",
                       "storage unreachable", retry_s=RETRIES[RELEASE].interval_s)

    run = replay(NIGHTLY, history, schema)

    assert run.done and run.error is None  # the lease lapses by itself
    assert run.output["failed_step"] is None
