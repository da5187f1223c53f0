"""Orchestration histories as the Durable extension hands them to a Python orchestrator.

The extension calls an orchestrator with a JSON context: the instance's history so far
(Durable Task Framework events, grouped into episodes that start with OrchestratorStarted
and end with OrchestratorCompleted), its input and the replay protocol it speaks. The
orchestrator replays the history from the start and answers with its state: every action
it has scheduled so far, whether it is done, its output or error and its custom status.

`History` writes such histories the way the Durable Task Framework does:
- An episode opens with OrchestratorStarted (its timestamp becomes
  `context.current_utc_datetime`), then the events that woke the orchestrator
  (TaskCompleted, TaskFailed, TimerFired), then what the orchestrator scheduled
  (TaskScheduled, TimerCreated); OrchestratorCompleted closes it.
- Scheduled tasks and timers share one sequence of ids (EventId); completions point back
  at them (TaskScheduledId, TimerId).
- An activity called with retry options is retried by the extension: each failure is
  followed by a retry timer (TimerCreated, then TimerFired in the next episode) and the
  activity is scheduled again under a new id. After the last attempt one more timer
  fires before the failure reaches the orchestrator (that is where DTFx's retry loop
  ends; the Python SDK waits for that timer too).

`replay` runs an orchestrator over a history and decodes its answer into `Replay`;
`drive` plays the extension's part for a whole run, executing each scheduled activity
through a callback and writing its outcome into the history.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as Ev
from azure.functions import meta
from azure.functions.durable_functions import OrchestrationTriggerConverter

TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
ERROR_MARKER = "$OutOfProcData$:"

# The replay protocols: the legacy one (one list of actions per yield) and the one the
# Durable extension 2.x negotiates today (one list; fan-outs and retries as WhenAll actions).
SCHEMAS: dict[str, dict[str, Any]] = {
    "v1": {"upperSchemaVersion": 0},
    "v3": {"upperSchemaVersion": 2, "upperSchemaVersionNew": 3,
           "maximumShortTimerDuration": "6.00:00:00",
           "longRunningTimerIntervalDuration": "3.00:00:00"},
}


def stamp(moment: datetime) -> str:
    return moment.strftime(TIMESTAMP)


class History:
    """One orchestration instance's history, written episode by episode."""

    def __init__(self, name: str, instance_id: str, input_: Any, started: datetime) -> None:
        self.name = name
        self.instance_id = instance_id
        self.input = json.dumps(input_)
        self.now = started
        """The current episode's OrchestratorStarted time (the orchestrator's clock)."""
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._event(Ev.ORCHESTRATOR_STARTED)
        self._event(Ev.EXECUTION_STARTED, Name=name, Version="", Input=self.input,
                    OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": "1"})

    # Raw events -------------------------------------------------------------------------

    def _event(self, kind: Ev, event_id: int = -1, **fields: Any) -> dict[str, Any]:
        event = {"EventType": int(kind), "EventId": event_id, "IsPlayed": False,
                 "Timestamp": stamp(self.now), **fields}
        self.events.append(event)
        return event

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def scheduled(self, name: str, payload: Any = None) -> int:
        """TaskScheduled for an activity in the current episode; returns its id."""
        task_id = self._new_id()
        self._event(Ev.TASK_SCHEDULED, task_id, Name=name, Version="",
                    Input=json.dumps(payload))
        return task_id

    def timer_created(self, fire_at: datetime) -> int:
        """TimerCreated in the current episode; returns its id."""
        timer_id = self._new_id()
        self._event(Ev.TIMER_CREATED, timer_id, FireAt=stamp(fire_at))
        return timer_id

    def next_episode(self, seconds: float = 1.0) -> None:
        """Close the episode; the next one starts `seconds` later."""
        self._event(Ev.ORCHESTRATOR_COMPLETED)
        self.now += timedelta(seconds=seconds)
        self._event(Ev.ORCHESTRATOR_STARTED)

    def completed(self, task_id: int, result: Any, *, encoded: str | None = None) -> None:
        """TaskCompleted with `result` (or the activity's output JSON as `encoded`)."""
        self._event(Ev.TASK_COMPLETED, TaskScheduledId=task_id,
                    Result=json.dumps(result) if encoded is None else encoded)

    def failed(self, task_id: int, reason: str, details: str = "") -> None:
        self._event(Ev.TASK_FAILED, TaskScheduledId=task_id, Reason=reason, Details=details)

    def fired(self, timer_id: int, fire_at: datetime) -> None:
        self._event(Ev.TIMER_FIRED, TimerId=timer_id, FireAt=stamp(fire_at))

    # What happens to a call with retry options ------------------------------------------

    def _retry_timer(self, interval_s: float) -> None:
        fire_at = self.now + timedelta(seconds=interval_s)
        timer_id = self.timer_created(fire_at)
        self.next_episode(interval_s)
        self.fired(timer_id, fire_at)

    def call(self, name: str, result: Any, payload: Any = None, *, failures: int = 0,
             retry_s: float = 1.0) -> None:
        """An activity scheduled in this episode that fails `failures` times (each retried
        by the extension after a timer) and then returns `result` in a later episode."""
        for _ in range(failures):
            task_id = self.scheduled(name, payload)
            self.next_episode()
            self.failed(task_id, "TransientError", f"{name} hiccup")
            self._retry_timer(retry_s)
        task_id = self.scheduled(name, payload)
        self.next_episode()
        self.completed(task_id, result)

    def call_fails(self, name: str, attempts: int, reason: str, details: str = "",
                   payload: Any = None, *, retry_s: float = 1.0) -> None:
        """An activity that fails on every one of its `attempts`."""
        for _ in range(attempts):
            task_id = self.scheduled(name, payload)
            self.next_episode()
            self.failed(task_id, reason, details)
            self._retry_timer(retry_s)

    def parallel(self, name: str, payloads_results: list[tuple[Any, Any]], *,
                 order: list[int] | None = None) -> None:
        """Activities scheduled together in this episode, completing in the next one in
        `order` (indexes into the list; default: as scheduled)."""
        ids = [self.scheduled(name, payload) for payload, _ in payloads_results]
        self.next_episode()
        for index in order if order is not None else range(len(ids)):
            self.completed(ids[index], payloads_results[index][1])

    def wait(self, seconds: float) -> None:
        """A durable timer set in this episode for `seconds` from its start, then fired."""
        fire_at = self.now + timedelta(seconds=seconds)
        timer_id = self.timer_created(fire_at)
        self.next_episode(seconds)
        self.fired(timer_id, fire_at)

    def episodes(self) -> list[History]:
        """The history as the extension held it at the end of each episode so far."""
        ends = [i for i, event in enumerate(self.events)
                if event["EventType"] == Ev.ORCHESTRATOR_COMPLETED]
        prefixes = []
        for end in [*ends, len(self.events)]:
            prefix = copy.copy(self)
            prefix.events = self.events[:end]
            prefixes.append(prefix)
        return prefixes

    # The orchestrator's view ------------------------------------------------------------

    def context(self, schema: str = "v3") -> str:
        """The orchestration trigger's JSON, as the extension sends it."""
        return json.dumps({"history": self.events, "input": self.input,
                           "instanceId": self.instance_id, "isReplaying": False,
                           "parentInstanceId": None, **SCHEMAS[schema]})


@dataclass(frozen=True)
class Replay:
    """An orchestrator's answer to one history."""

    raw: str
    """The JSON the orchestrator returned (or the state embedded in its error)."""
    state: dict[str, Any]
    schema: str
    error: str | None

    @property
    def done(self) -> bool:
        return bool(self.state["isDone"])

    @property
    def output(self) -> Any:
        return self.state.get("output")

    @property
    def custom_status(self) -> Any:
        return self.state.get("customStatus")

    @property
    def actions(self) -> list[dict[str, Any]]:
        """Every action, one entry per yield (a fan-out or retry wrapper stays grouped)."""
        if self.schema == "v1":
            return [{"group": group} for group in self.state["actions"]]
        (actions,) = self.state["actions"] or [[]]
        return actions

    @property
    def yields(self) -> list[list[tuple[str, Any]]]:
        """Per yield, what it scheduled: (activity, payload) or ("timer", fire at)."""
        return [[_leaf(action) for action in _leaves(entry)] for entry in self.actions]

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Every activity action, flattened, as JSON."""
        return [action for entry in self.actions for action in _leaves(entry)
                if action["actionType"] != ActionType.CREATE_TIMER]


def _leaves(action: dict[str, Any]) -> list[dict[str, Any]]:
    if "group" in action:
        return [leaf for child in action["group"] for leaf in _leaves(child)]
    if "compoundActions" in action:
        return [leaf for child in action["compoundActions"] for leaf in _leaves(child)]
    return [action]


def _leaf(action: dict[str, Any]) -> tuple[str, Any]:
    """(activity, the step's own payload), or ("timer", fire at); every activity input
    also names the run holding the lake (`test_orchestrator` checks it)."""
    if action["actionType"] == ActionType.CREATE_TIMER:
        return ("timer", action["fireAt"])
    return (action["functionName"], json.loads(action["input"])["input"])


def trigger_input(history: History, schema: str = "v3") -> Any:
    """The orchestration trigger's argument, made by the worker's own converter."""
    return OrchestrationTriggerConverter.decode(meta.Datum(history.context(schema), "json"),
                                                trigger_metadata={})


def replay(orchestrator: Callable[[Any], str], history: History, schema: str = "v3") -> Replay:
    """Run `orchestrator` (an `Orchestrator.create` handle) over `history`, handed over as
    the worker does. A failed orchestration raises with its state after a marker; that
    state is decoded too."""
    try:
        raw = orchestrator(trigger_input(history, schema))
    except Exception as failure:
        message = str(failure)
        if ERROR_MARKER not in message:
            raise
        raw = message.split(ERROR_MARKER, 1)[1]
        return Replay(raw, json.loads(raw), schema, message.split(ERROR_MARKER, 1)[0].strip())
    return Replay(raw, json.loads(raw), schema, None)


Execute = Callable[[str, str], str]
"""Run one activity: (name, input JSON) -> output JSON; raising means the attempt failed."""


def drive(orchestrator: Callable[[Any], str], history: History, execute: Execute,
          schema: str = "v3", *, concurrent: bool = False,
          max_episodes: int = 10_000) -> Replay:
    """Run an orchestration to its end as the extension would: replay, carry out what the
    newest yield scheduled (activities through `execute`, retried as their retry options
    say, those of a fan-out at once on threads when `concurrent`; timers fire when due),
    write the outcomes, replay again."""
    seen = 0
    for _ in range(max_episodes):
        run = replay(orchestrator, history, schema)
        if run.done or run.error is not None:
            return run
        new = run.actions[seen:]
        seen = len(run.actions)
        assert len(new) == 1, f"expected one new yield per episode, got {new}"
        leaves = _leaves(new[0])
        if leaves[0]["actionType"] == ActionType.CREATE_TIMER:
            (timer,) = leaves
            fire_at = datetime.strptime(timer["fireAt"], TIMESTAMP).replace(
                tzinfo=history.now.tzinfo)
            timer_id = history.timer_created(fire_at)
            history.next_episode((fire_at - history.now).total_seconds())
            history.fired(timer_id, fire_at)
        else:
            _run_activities(history, leaves, execute, concurrent)
    raise AssertionError(f"no end after {max_episodes} episodes")


def _outcome(execute: Execute, leaf: dict[str, Any]) -> str | Exception:
    try:
        return execute(leaf["functionName"], leaf["input"])
    except Exception as error:
        return error


def _run_activities(history: History, leaves: list[dict[str, Any]], execute: Execute,
                    concurrent: bool) -> None:
    attempts = dict.fromkeys(range(len(leaves)), 1)
    due = [(index, history.scheduled(leaf["functionName"], json.loads(leaf["input"])))
           for index, leaf in enumerate(leaves)]
    history.next_episode()
    while due:
        if concurrent and len(due) > 1:
            with ThreadPoolExecutor(len(due)) as pool:
                outcomes = list(pool.map(lambda item: _outcome(execute, leaves[item[0]]),
                                         due))
        else:
            outcomes = [_outcome(execute, leaves[index]) for index, _ in due]
        failed = []
        for (index, task_id), outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, Exception):
                history.failed(task_id, type(outcome).__name__, str(outcome))
                failed.append(index)
            else:
                history.completed(task_id, None, encoded=outcome)
        if not failed:
            return
        interval = min(leaves[i]["retryOptions"]["firstRetryIntervalInMilliseconds"]
                       for i in failed) / 1000
        timers = [history.timer_created(history.now + timedelta(seconds=interval))
                  for _ in failed]
        history.next_episode(interval)
        for timer_id in timers:
            history.fired(timer_id, history.now)
        if any(attempts[i] >= leaves[i]["retryOptions"]["maxNumberOfAttempts"]
               for i in failed):
            return  # out of attempts: the orchestrator sees the failure on its next replay
        for i in failed:
            attempts[i] += 1
        due = [(i, history.scheduled(leaves[i]["functionName"], json.loads(leaves[i]["input"])))
               for i in failed]
        history.next_episode()
