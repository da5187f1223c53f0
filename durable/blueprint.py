"""The nightly orchestration's Azure Functions: orchestrator, activities, timer and starter.

`function_app.py` registers the blueprint `nightly_blueprint` makes, handing it the
process's services. Each function is a few lines: the work is in `durable.nightly` (the
definition), `durable.activities` and `durable.starter`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.Task import TaskBase

from durable.activities import ACTIVITY_NAMES, NightlyServices, run_activity
from durable.nightly import ORCHESTRATION
from durable.orchestrator import nightly_orchestrator
from durable.starter import start_nightly
from shared.settings import current_settings

logger = logging.getLogger("shoplake.nightly")


def nightly_blueprint(services: Callable[[], NightlyServices]) -> df.Blueprint:
    """The nightly run's Functions; each activity runs with `services()`, called when it
    runs (so registering them does no I/O)."""
    bp = df.Blueprint()

    @bp.function_name(ORCHESTRATION)
    @bp.orchestration_trigger(context_name="context")
    def nightly_refresh(context: df.DurableOrchestrationContext
                        ) -> Generator[TaskBase, Any, dict[str, Any]]:
        return (yield from nightly_orchestrator(context))

    for name in ACTIVITY_NAMES:
        _register_activity(bp, name, services)

    @bp.function_name("nightly_timer")
    @bp.timer_trigger(arg_name="timer", schedule="%NIGHTLY_SCHEDULE%")
    @bp.durable_client_input(client_name="client")
    async def nightly_timer(timer: func.timer.TimerRequest,
                            client: df.DurableOrchestrationClient) -> None:
        decision = await start_nightly(client, current_settings(), datetime.now(UTC),
                                       on_demand=False)
        logger.info("nightly timer (past due: %s): %s", timer.past_due, decision)

    @bp.function_name("start_nightly")
    @bp.route(route="orchestrations/nightly", methods=["POST"],
              auth_level=func.AuthLevel.FUNCTION)
    @bp.durable_client_input(client_name="client")
    async def start_nightly_on_demand(req: func.HttpRequest,
                                      client: df.DurableOrchestrationClient
                                      ) -> func.HttpResponse:
        decision = await start_nightly(client, current_settings(), datetime.now(UTC),
                                       on_demand=True)
        if decision.started:
            return client.create_check_status_response(req, decision.instance_id)
        body = {"error": "conflict", "message": f"{decision.instance_id} is already "
                f"{decision.previous.lower() if decision.previous else 'running'}",
                **client.get_client_response_links(req, decision.instance_id)}
        return func.HttpResponse(json.dumps(body), status_code=409,
                                 mimetype="application/json")

    return bp


def _register_activity(bp: df.Blueprint, name: str,
                       services: Callable[[], NightlyServices]) -> None:
    def activity(payload: Any) -> Any:
        return run_activity(services(), name, payload)

    activity.__name__ = activity.__qualname__ = name
    bp.function_name(name)(bp.activity_trigger(input_name="payload")(activity))
