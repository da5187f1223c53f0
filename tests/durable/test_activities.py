"""The nightly run's activities, through `run_activity` as both drivers call it."""

from __future__ import annotations

from durable.activities import activity_input, run_activity
from durable.nightly import START_SYNAPSE
from shared.lake import Lake
from shared.settings import Settings
from shared.synapse import SynapseRunner
from shoplake.services import Services
from tests.support.synapse import FixedCredential, fake_synapse


def test_the_synapse_refresh_joins_the_nightly_run_holding_the_lake(local_lake: Lake) -> None:
    """The Spark job refreshes as the run that holds the lake between its steps; as a run
    of its own it would wait for the lake until it gave up."""
    services = Services(Settings(lake_url=local_lake.url), lake=local_lake)
    with fake_synapse() as fake:
        services.__dict__["synapse"] = SynapseRunner(
            fake.url, "shoplake-refresh", FixedCredential(), insecure_loopback=True,
            retry_backoff=0, max_wait=0)
        fake.reply(202, {"runId": "run-7"})
        run_id = run_activity(services, START_SYNAPSE,
                              activity_input("nightly-1", {"partitions": ["2026-10-01"]}))
    assert run_id == "run-7"
    (request,) = fake.requests
    assert request.path.endswith("/pipelines/shoplake-refresh/createRun")
    assert request.json() == {"step": "refresh", "partitions": ["2026-10-01"],
                              "writer": "nightly-1"}
