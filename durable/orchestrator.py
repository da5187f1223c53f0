"""The Durable driver of `durable.nightly`: each request becomes a Durable task.

Replay-safe by construction: the definition is pure, timers are computed from
`context.current_utc_datetime`, and an activity that failed after its retries is thrown
back into the definition as `StepFailed`, exactly as on the first execution.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase

from durable.activities import activity_input
from durable.nightly import Call, NightlyInput, Parallel, Request, StepFailed, Wait, nightly


def nightly_orchestrator(context: df.DurableOrchestrationContext
                         ) -> Generator[TaskBase, Any, dict[str, Any]]:
    definition = nightly(NightlyInput.from_json(context.get_input(expected_type=dict)))
    outcome: tuple[str, Any] = ("send", None)
    while True:
        try:
            request = (definition.send(outcome[1]) if outcome[0] == "send"
                       else definition.throw(outcome[1]))
        except StopIteration as stop:
            summary = asdict(stop.value)
            context.set_custom_status({"steps": summary["steps"],
                                       "failed_step": summary["failed_step"]})
            if stop.value.ok:
                return summary
            raise RuntimeError(f"nightly run failed at {summary['failed_step']}: "
                               f"{summary['error']} (summary: {summary})") from None
        context.set_custom_status({"step": _step_name(request)})
        try:
            outcome = ("send", (yield _task(context, request)))
        except Exception as error:  # an activity failed after all its retries
            outcome = ("throw", StepFailed(str(error)))


def _task(context: df.DurableOrchestrationContext, request: Request) -> TaskBase:
    if isinstance(request, Call):
        return _call(context, request)
    if isinstance(request, Parallel):
        return context.task_all([_call(context, call) for call in request.calls])
    assert isinstance(request, Wait)
    return context.create_timer(context.current_utc_datetime
                                + timedelta(seconds=request.seconds))


def _call(context: df.DurableOrchestrationContext, call: Call) -> TaskBase:
    retry = df.RetryOptions(int(call.retry.interval_s * 1000), call.retry.attempts)
    # The instance holds the lake's writer lease for all its steps.
    return context.call_activity_with_retry(call.activity, retry,
                                            activity_input(context.instance_id, call.payload))


def _step_name(request: Request) -> str:
    if isinstance(request, Call):
        return request.activity
    if isinstance(request, Parallel):
        return f"{request.calls[0].activity} x{len(request.calls)}"
    return "waiting"
