"""Starting the nightly run: one instance a day, through a real Durable client.

The client is the SDK's own `df.DurableOrchestrationClient`, built from a durable client
binding like the host's, whose `rpcBaseUrl` points at a loopback fake of the Durable
extension's HTTP API (`tests.durable.extension`). The Functions are called as the worker
calls them: the timer with a `TimerRequest` from the timer converter, the HTTP starter
with a `func.HttpRequest`, and both with the binding's JSON for their client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.durable_functions.models.utils import http_utils
from azure.functions import meta
from azure.functions.durable_functions import DurableClientConverter
from azure.functions.timer import TimerRequestConverter

from durable.nightly import ORCHESTRATION, NightlyInput
from durable.starter import StartDecision, instance_id_for, start_nightly
from shared.settings import Settings, current_settings
from tests.durable.extension import FakeExtension, management_urls
from tests.durable.functions import user_function

NOW = datetime(2026, 11, 28, 2, 0, 3, tzinfo=UTC)
TODAY = "nightly-2026-11-28"
SETTINGS = Settings(lake_url="lake", refresh_runner="synapse", nightly_max_parallel=3,
                    synapse_poll_seconds=30.0)


@pytest.fixture
def extension() -> Iterator[FakeExtension]:
    fake = FakeExtension().start()
    yield fake
    fake.stop()


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run on a fresh event loop, closing the SDK's shared aiohttp session in that loop
    (the worker keeps one loop for its life; each test has its own)."""
    async def main() -> Any:
        try:
            return await coroutine
        finally:
            await http_utils._close_session()

    return asyncio.run(main())


def client_for(extension: FakeExtension) -> df.DurableOrchestrationClient:
    return df.DurableOrchestrationClient(extension.binding())


def start(extension: FakeExtension, *, on_demand: bool) -> StartDecision:
    return run(start_nightly(client_for(extension), SETTINGS, NOW, on_demand=on_demand))


def orchestration_input(body: bytes) -> Any:
    """The input of a start request as the extension reads it. The Python client sends the
    input's JSON text as a JSON string, so there are two layers to decode."""
    value = json.loads(body)
    return json.loads(value) if isinstance(value, str) else value


# The starter against the client ------------------------------------------------------------

def test_the_first_start_of_the_day_starts_the_days_instance(extension: FakeExtension) -> None:
    decision = start(extension, on_demand=False)

    assert decision == StartDecision(TODAY, started=True, previous=None)
    assert [(r.method, r.path) for r in extension.requests] == [
        ("GET", f"/durabletask/instances/{TODAY}"),
        ("POST", f"/durabletask/orchestrators/{ORCHESTRATION}/{TODAY}")]
    (posted,) = extension.starts()
    assert orchestration_input(posted.body) == asdict(NightlyInput(
        started_at=NOW.isoformat(), runner="synapse", max_parallel=3, poll_seconds=30.0))
    assert NightlyInput.from_json(orchestration_input(posted.body)).started_at == \
        "2026-11-28T02:00:03+00:00"


def test_the_instance_id_is_the_utc_day() -> None:
    assert instance_id_for(NOW) == TODAY
    assert instance_id_for(datetime(2026, 11, 28, 23, 59, 59, tzinfo=UTC)) == TODAY


@pytest.mark.parametrize("status", ["Running", "Pending", "ContinuedAsNew", "Suspended",
                                    "Completed"])
def test_the_timer_does_not_start_the_day_again(extension: FakeExtension, status: str) -> None:
    extension.set_status(TODAY, status)

    decision = start(extension, on_demand=False)

    assert decision == StartDecision(TODAY, started=False, previous=status)
    assert extension.starts() == []


@pytest.mark.parametrize("status", ["Failed", "Terminated"])
def test_the_timer_starts_a_day_whose_run_is_over_without_success(
        extension: FakeExtension, status: str) -> None:
    extension.set_status(TODAY, status)

    decision = start(extension, on_demand=False)

    assert decision == StartDecision(TODAY, started=True, previous=status)
    assert [r.path for r in extension.starts()] == [
        f"/durabletask/orchestrators/{ORCHESTRATION}/{TODAY}"]
    assert extension.instances[TODAY]["runtimeStatus"] == "Pending"


def test_a_second_timer_start_the_same_day_does_nothing(extension: FakeExtension) -> None:
    first = start(extension, on_demand=False)
    second = start(extension, on_demand=False)

    assert first.started and not second.started
    assert second.previous == "Pending"
    assert len(extension.starts()) == 1


@pytest.mark.parametrize("status", ["Running", "Pending"])
def test_on_demand_does_not_start_while_the_day_runs(extension: FakeExtension,
                                                     status: str) -> None:
    extension.set_status(TODAY, status)

    assert start(extension, on_demand=True) == StartDecision(TODAY, False, status)
    assert extension.starts() == []


@pytest.mark.parametrize("status", ["Completed", "Failed"])
def test_on_demand_runs_a_finished_day_again(extension: FakeExtension, status: str) -> None:
    extension.set_status(TODAY, status, output={"steps": ["plan_refresh"]})

    assert start(extension, on_demand=True) == StartDecision(TODAY, True, status)
    assert len(extension.starts()) == 1


# The Functions, called as the worker calls them ---------------------------------------------

@pytest.fixture
def function_settings(environment: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("REFRESH_RUNNER", "local")
    monkeypatch.setenv("NIGHTLY_MAX_PARALLEL", "2")
    monkeypatch.setenv("SYNAPSE_POLL_SECONDS", "45")
    current_settings.cache_clear()
    yield
    current_settings.cache_clear()


def client_binding(extension: FakeExtension) -> Any:
    """The durableClient input as the worker's converter hands it over: the JSON text."""
    return DurableClientConverter.decode(meta.Datum(extension.binding(), "string"),
                                         trigger_metadata={})


def timer_request(past_due: bool = False) -> func.timer.TimerRequest:
    payload = {"Schedule": {"AdjustForDST": True},
               "ScheduleStatus": {"Last": "2026-11-27T02:00:00+00:00",
                                  "Next": "2026-11-28T02:00:00+00:00",
                                  "LastUpdated": "2026-11-27T02:00:00+00:00"},
               "IsPastDue": past_due}
    return TimerRequestConverter.decode(meta.Datum(json.dumps(payload), "json"),
                                        trigger_metadata={})


def current_ids() -> set[str]:
    """The day's instance id now and a little later: the Functions read the wall clock,
    and a test may run across midnight."""
    now = datetime.now(UTC)
    return {instance_id_for(now), instance_id_for(now + timedelta(minutes=5))}


def set_days(extension: FakeExtension, status: str) -> set[str]:
    ids = current_ids()
    for instance_id in ids:
        extension.set_status(instance_id, status)
    return ids


def without_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.scheme else url


def http_request() -> func.HttpRequest:
    return func.HttpRequest(method="POST",
                            url="https://shoplake.azurewebsites.net/api/orchestrations/nightly",
                            headers={"content-length": "0"}, body=b"", params={},
                            route_params={})


@pytest.mark.usefixtures("function_settings")
def test_nightly_timer_starts_the_day_with_the_app_settings(extension: FakeExtension) -> None:
    nightly_timer = user_function("nightly_timer")
    days = current_ids()

    result = run(nightly_timer(timer=timer_request(past_due=True),
                               client=client_binding(extension)))

    assert result is None
    (posted,) = extension.starts()
    instance_id = posted.path.rsplit("/", 1)[1]
    assert posted.path == f"/durabletask/orchestrators/{ORCHESTRATION}/{instance_id}"
    assert instance_id in days
    config = NightlyInput.from_json(orchestration_input(posted.body))
    assert (config.runner, config.max_parallel, config.poll_seconds) == ("local", 2, 45.0)
    assert instance_id_for(datetime.fromisoformat(config.started_at)) == instance_id


@pytest.mark.usefixtures("function_settings")
def test_nightly_timer_leaves_a_completed_day_alone(extension: FakeExtension) -> None:
    set_days(extension, "Completed")

    run(user_function("nightly_timer")(timer=timer_request(),
                                               client=client_binding(extension)))

    assert extension.starts() == []


@pytest.mark.usefixtures("function_settings")
def test_start_nightly_answers_202_with_the_status_links(extension: FakeExtension) -> None:
    start_function = user_function("start_nightly")
    days = current_ids()

    response = run(start_function(req=http_request(), client=client_binding(extension)))

    assert response.status_code == 202
    links = json.loads(response.get_body())
    instance_id = links["id"]
    assert instance_id in days
    # The links point at the public host the request came to, for this instance.
    assert links["statusQueryGetUri"] == management_urls(instance_id)[
        "statusQueryGetUri"].replace("http://localhost:7071/", "https://shoplake.azurewebsites.net/")
    assert response.headers["Location"] == links["statusQueryGetUri"]
    assert [r.path for r in extension.starts()] == [
        f"/durabletask/orchestrators/{ORCHESTRATION}/{instance_id}"]


@pytest.mark.usefixtures("function_settings")
def test_start_nightly_answers_409_while_the_day_runs(extension: FakeExtension) -> None:
    days = set_days(extension, "Running")

    response = run(user_function("start_nightly")(
        req=http_request(), client=client_binding(extension)))

    assert response.status_code == 409
    assert response.mimetype == "application/json"
    body = json.loads(response.get_body())
    instance_id = body["id"]
    assert instance_id in days
    assert (body.pop("error"), body.pop("message")) == (
        "conflict", f"{instance_id} is already running")
    expected = management_urls(instance_id)
    assert body.keys() == expected.keys() and body["id"] == instance_id
    for name, url in expected.items():  # the instance's links (whichever origin they use)
        assert without_origin(body[name]) == without_origin(url), name
    assert extension.starts() == []


@pytest.mark.usefixtures("function_settings")
def test_start_nightly_runs_a_completed_day_again(extension: FakeExtension) -> None:
    set_days(extension, "Completed")

    response = run(user_function("start_nightly")(
        req=http_request(), client=client_binding(extension)))

    assert response.status_code == 202
    assert len(extension.starts()) == 1
