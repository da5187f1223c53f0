"""Synapse pipeline runs against a loopback stand-in for a workspace dev endpoint.

The stand-in speaks the REST shape azure-synapse-artifacts uses (`POST
/pipelines/{name}/createRun`, `GET /pipelineruns/{runId}`), answers the responses a test
queues and records every request. The credential is ours: a fixed token.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ClientAuthenticationError

from shared.settings import ConfigurationError
from shared.synapse import RunStatus, SynapseError, SynapseRunner, open_synapse_runner
from tests.support.azurite import free_port
from tests.support.synapse import FakeSynapse, FixedCredential, fake_synapse, runner_for

API_VERSION = "2020-12-01"
SYNAPSE_SCOPE = "https://dev.azuresynapse.net/.default"


@pytest.fixture
def fake() -> Iterator[FakeSynapse]:
    with fake_synapse() as stand_in:
        yield stand_in


# -- start ------------------------------------------------------------------------------


def test_start_creates_a_run_with_the_step_and_parameters(fake: FakeSynapse) -> None:
    credential = FixedCredential()
    fake.reply(202, {"runId": "run-1"})
    with runner_for(fake, credential) as runner:
        run_id = runner.start(
            "facts", {"since": "2026-11-01", "dates": ["2026-11-08", "2026-11-09"]}
        )

    assert run_id == "run-1"
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/pipelines/refresh/createRun")
    assert request.query == {"api-version": [API_VERSION]}
    assert request.headers["Authorization"] == "Bearer test-token"
    assert request.json() == {
        "step": "facts", "since": "2026-11-01", "dates": ["2026-11-08", "2026-11-09"],
    }
    assert credential.scopes == [(SYNAPSE_SCOPE,)]


def test_start_refuses_a_parameter_named_step(fake: FakeSynapse) -> None:
    with pytest.raises(ValueError, match="step"):
        runner_for(fake).start("silver", {"step": "dims"})
    assert fake.requests == []


def test_start_reports_the_service_message_without_retrying_a_bad_request(
    fake: FakeSynapse,
) -> None:
    # Top-level code/message, as some Synapse endpoints answer.
    fake.reply(400, {"code": "BadRequest", "message": "Parameter 'dates' is not defined\nin "
                                                      "pipeline 'refresh'."})
    with pytest.raises(SynapseError) as raised:
        runner_for(fake).start("facts", {"dates": ["2026-11-09"]})

    error = raised.value
    assert (error.status_code, error.code) == (400, "BadRequest")
    assert str(error) == (
        "starting step 'facts' of Synapse pipeline 'refresh' failed: HTTP 400 BadRequest "
        "Parameter 'dates' is not defined in pipeline 'refresh'."
    )
    assert len(fake.requests) == 1


def test_start_without_a_run_id_is_an_error(fake: FakeSynapse) -> None:
    fake.reply(202, {})
    with pytest.raises(SynapseError, match="without a runId"):
        runner_for(fake).start("silver", {})


# -- status -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("synapse_status", "message", "state", "detail"),
    [
        ("Queued", "", "running", "Queued"),
        ("InProgress", "", "running", "InProgress"),
        ("Canceling", "", "running", "Canceling"),
        ("Succeeded", "", "succeeded", "Succeeded"),
        ("Failed", "Operation on target silver failed:\n  Spark job exited with 1",
         "failed", "Failed: Operation on target silver failed: Spark job exited with 1"),
        ("Cancelled", "", "failed", "Cancelled"),
    ],
)
def test_status_maps_each_synapse_state(
    fake: FakeSynapse, synapse_status: str, message: str, state: str, detail: str
) -> None:
    fake.reply(200, {"runId": "run-1", "pipelineName": "refresh", "status": synapse_status,
                     "message": message, "runStart": "2026-11-10T02:00:05Z"})
    status = runner_for(fake).status("run-1")

    assert status == RunStatus("run-1", state, detail)  # type: ignore[arg-type]
    assert status.done == (state != "running")
    [request] = fake.requests
    assert (request.method, request.path) == ("GET", "/pipelineruns/run-1")
    assert request.query == {"api-version": [API_VERSION]}
    assert request.headers["Authorization"] == "Bearer test-token"


def test_status_of_an_unknown_run_is_a_synapse_error(fake: FakeSynapse) -> None:
    fake.reply(404, {"error": {"code": "PipelineRunNotFound",
                               "message": "Pipeline run 'nope' does not exist."}})
    with pytest.raises(SynapseError) as raised:
        runner_for(fake).status("nope")

    assert (raised.value.status_code, raised.value.code) == (404, "PipelineRunNotFound")
    assert str(raised.value) == (
        "reading Synapse pipeline run 'nope' failed: HTTP 404 PipelineRunNotFound "
        "Pipeline run 'nope' does not exist."
    )


def test_an_unknown_run_status_is_an_error_not_an_endless_poll(fake: FakeSynapse) -> None:
    fake.reply(200, {"runId": "run-1", "status": "Paused"})
    with pytest.raises(SynapseError, match="unknown run status 'Paused'"):
        runner_for(fake).status("run-1")


# -- retries ----------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["start", "status"])
def test_a_transient_503_is_retried(fake: FakeSynapse, call: str) -> None:
    fake.reply(503, {"error": {"code": "ServiceUnavailable", "message": "try again"}})
    if call == "start":
        fake.reply(202, {"runId": "run-2"})
        assert runner_for(fake).start("silver", {}) == "run-2"
    else:
        fake.reply(200, {"runId": "run-2", "status": "Succeeded"})
        assert runner_for(fake).status("run-2").state == "succeeded"
    assert len(fake.requests) == 2
    assert fake.requests[0].body == fake.requests[1].body


@pytest.mark.timeout(60)  # an uncapped Retry-After would sleep for an hour
@pytest.mark.parametrize("retry_after", [None, "3600"])
def test_a_throttled_start_is_retried_with_a_bounded_wait(
    fake: FakeSynapse, retry_after: str | None
) -> None:
    fake.reply(429, {"error": {"code": "TooManyRequests", "message": "slow down"}},
               {"Retry-After": retry_after} if retry_after else {})
    fake.reply(202, {"runId": "run-3"})

    assert runner_for(fake).start("silver", {}) == "run-3"
    assert len(fake.requests) == 2


def test_retries_are_bounded(fake: FakeSynapse) -> None:
    for _ in range(10):
        fake.reply(503, {"error": {"code": "ServiceUnavailable", "message": "down"}})
    with pytest.raises(SynapseError) as raised:
        runner_for(fake, retry_total=3).status("run-1")

    assert raised.value.status_code == 503
    assert len(fake.requests) == 4


# -- no response ------------------------------------------------------------------------


def test_a_credential_without_a_token_is_a_synapse_error(fake: FakeSynapse) -> None:
    credential = FixedCredential(ClientAuthenticationError("ManagedIdentityCredential: no "
                                                           "identity\nassigned to this app"))
    with pytest.raises(SynapseError) as raised:
        runner_for(fake, credential).start("silver", {})

    assert str(raised.value) == (
        "starting step 'silver' of Synapse pipeline 'refresh' failed: "
        "ManagedIdentityCredential: no identity assigned to this app"
    )
    assert raised.value.status_code is None
    assert fake.requests == []


def test_an_unreachable_workspace_is_a_synapse_error() -> None:
    runner = SynapseRunner(f"http://127.0.0.1:{free_port()}", "refresh", FixedCredential(),
                           insecure_loopback=True, retry_total=0)
    with pytest.raises(SynapseError, match=r"^reading Synapse pipeline run 'run-1' failed: "):
        runner.status("run-1")


def test_synapse_errors_survive_pickling() -> None:
    error = SynapseError("starting step failed: HTTP 404", status_code=404, code="NotFound")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.status_code, copy.code) == (str(error), 404, "NotFound")


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [None, ""])
def test_no_endpoint_means_no_synapse(endpoint: str | None) -> None:
    assert open_synapse_runner(endpoint, "refresh", None) is None


def test_open_builds_a_managed_identity_runner_without_io() -> None:
    runner = open_synapse_runner("https://shop.dev.azuresynapse.net/", "refresh", "client-1")
    assert runner is not None
    with runner:
        assert (runner.endpoint, runner.pipeline) == ("https://shop.dev.azuresynapse.net",
                                                      "refresh")


@pytest.mark.parametrize(
    ("endpoint", "pipeline", "names"),
    [
        ("https://shop.dev.azuresynapse.net", None, "SYNAPSE_PIPELINE"),
        ("https://shop.dev.azuresynapse.net", "", "SYNAPSE_PIPELINE"),
        ("http://shop.dev.azuresynapse.net", "refresh", "https://"),
        ("shop.dev.azuresynapse.net", "refresh", "SYNAPSE_ENDPOINT"),
        ("https://shop.dev.azuresynapse.net/pipelines", "refresh", "SYNAPSE_ENDPOINT"),
        ("https://shop.dev.azuresynapse.net", "nightly/refresh", "SYNAPSE_PIPELINE"),
        ("https://shop.dev.azuresynapse.net", ".refresh", "SYNAPSE_PIPELINE"),
    ],
)
def test_configuration_errors_are_one_line(
    endpoint: str, pipeline: str | None, names: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        open_synapse_runner(endpoint, pipeline, None)
    assert names in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "endpoint",
    ["https://shop.dev.azuresynapse.net", "http://shop.dev.azuresynapse.net",
     "http://10.0.0.5:8080", "http://127.0.0.1.nip.io:8080"],
)
def test_the_loopback_escape_hatch_refuses_other_hosts(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="insecure_loopback"):
        SynapseRunner(endpoint, "refresh", FixedCredential(), insecure_loopback=True)


def test_http_needs_the_loopback_escape_hatch(fake: FakeSynapse) -> None:
    with pytest.raises(ConfigurationError, match="https://"):
        SynapseRunner(fake.url, "refresh", FixedCredential())
