"""The embedded driver of `durable.nightly`: `shoplake nightly` and the demo.

Requests run in-process, one after another (a `Parallel` runs its calls in order: one
process gains nothing from overlapping them, and the refresh steps already use both
cores), each activity with the same retry policy as in Azure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

from durable.activities import NightlyServices, activity_input, run_activity
from durable.nightly import (
    Call,
    NightlyInput,
    Parallel,
    Request,
    StepFailed,
    Summary,
    Wait,
    nightly,
)
from shared.lease import new_run_id
from shared.types import Progress


def run_nightly(services: NightlyServices, config: NightlyInput,
                progress: Progress = lambda _: None,
                sleep: Callable[[float], None] = time.sleep) -> Summary:
    """Run the nightly definition to the end; a failed step is in the summary.

    The whole run is one process: it holds the lake throughout (its steps join), so if
    the process dies the lake is free at once, instead of kept between steps as a
    Durable run's is.
    """
    writer = f"nightly-{new_run_id()}"
    with services.lake.writer(writer, keep=False):
        return _drive(services, writer, nightly(config), progress, sleep)


def _drive(services: NightlyServices, writer: str, definition: Generator[Request, Any, Summary],
           progress: Progress, sleep: Callable[[float], None]) -> Summary:
    result: Any = None
    failure: StepFailed | None = None
    while True:
        try:
            request = definition.throw(failure) if failure else definition.send(result)
        except StopIteration as stop:
            return stop.value
        failure, result = None, None
        try:
            if isinstance(request, Call):
                result = _call(services, writer, request, request.activity, progress, sleep)
            elif isinstance(request, Parallel):  # announced with what tells them apart
                result = [_call(services, writer, call, f"{call.activity} {call.payload}",
                                progress, sleep) for call in request.calls]
            else:
                assert isinstance(request, Wait)
                sleep(request.seconds)
        except StepFailed as error:
            failure = error


def _call(services: NightlyServices, writer: str, call: Call, label: str, progress: Progress,
          sleep: Callable[[float], None]) -> Any:
    attempt = 1
    while True:
        progress(label)
        try:
            return run_activity(services, call.activity, activity_input(writer, call.payload))
        except Exception as error:
            if attempt == call.retry.attempts:
                raise StepFailed(f"{type(error).__name__}: {error}") from error
            progress(f"{label} failed ({error}); retrying in {call.retry.interval_s:g} s")
            sleep(call.retry.interval_s)
            attempt += 1
