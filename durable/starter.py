"""Starting the nightly run: one instance per day, never two at once.

The instance id is the day (`nightly-2026-11-28`), so the timer firing twice, a restart of
the host, or a manual start while a run is going cannot run the night twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import azure.durable_functions as df
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from durable.nightly import ORCHESTRATION, NightlyInput
from shared.settings import Settings

ACTIVE = {Status.Running, Status.Pending, Status.ContinuedAsNew, Status.Suspended}


@dataclass(frozen=True)
class StartDecision:
    instance_id: str
    started: bool
    previous: str | None
    """The runtime status of the day's instance before this start (None: there was none)."""


def instance_id_for(moment: datetime) -> str:
    return f"nightly-{moment.date().isoformat()}"


def nightly_input(settings: Settings, now: datetime) -> NightlyInput:
    return NightlyInput(started_at=now.isoformat(), runner=settings.refresh_runner,
                        max_parallel=settings.nightly_max_parallel,
                        poll_seconds=settings.synapse_poll_seconds)


async def start_nightly(client: df.DurableOrchestrationClient, settings: Settings,
                        now: datetime, *, on_demand: bool) -> StartDecision:
    """Start the day's run unless it is running; the timer also skips a day that already
    completed (an on-demand start runs it again)."""
    instance_id = instance_id_for(now)
    status = await client.get_status(instance_id)
    previous = status.runtime_status if status is not None else None
    blocking = ACTIVE if on_demand else ACTIVE | {Status.Completed}
    if previous in blocking:
        return StartDecision(instance_id, False, previous.value)
    try:
        await client.start_new(ORCHESTRATION, instance_id, asdict(nightly_input(settings, now)))
    except Exception:
        # Two starts racing (the timer and a POST): the extension refuses the second.
        status = await client.get_status(instance_id)
        if status is not None and status.runtime_status in ACTIVE:
            return StartDecision(instance_id, False, status.runtime_status.value)
        raise
    return StartDecision(instance_id, True, previous.value if previous else None)
