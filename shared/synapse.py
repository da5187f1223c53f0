"""Synapse pipeline runs: start one refresh step at scale and report how it is doing.

In Azure mode the nightly orchestration starts a Synapse pipeline run per refresh step from
one activity and polls it from another between durable timers. Both activities are short:
`SynapseRunner.start` creates the run (`pipelines/{name}/createRun`) and returns its id,
`SynapseRunner.status` reads it once (`pipelineruns/{runId}`) and maps Synapse's six run
states onto three. Neither waits for the run; the orchestration owns the waiting.

The workspace dev endpoint (`https://<workspace>.dev.azuresynapse.net`) accepts bearer
tokens over HTTPS only; the identity is the Function App's managed identity (AZURE_CLIENT_ID).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline.policies import RetryPolicy
from azure.synapse.artifacts import ArtifactsClient

from shared.settings import ConfigurationError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline import PipelineResponse

RunState = Literal["running", "succeeded", "failed"]

# Synapse pipeline run states (PipelineRun.status) and what they mean for the orchestration.
_STATES: dict[str, RunState] = {
    "Queued": "running",
    "InProgress": "running",
    "Canceling": "running",
    "Succeeded": "succeeded",
    "Failed": "failed",
    "Cancelled": "failed",
}
# What the SDK checks before it sends `pipelines/{name}/createRun`.
_PIPELINE_NAME = re.compile(r"[A-Za-z0-9_][^<>*#.%&:\\+?/]{0,259}")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SynapseError(RuntimeError):
    """Synapse refused or failed a request; the message is one line for people to read."""

    def __init__(self, message: str, status_code: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:  # activities' errors may cross process boundaries
        return type(self), (str(self), self.status_code, self.code)


@dataclass(frozen=True)
class RunStatus:
    """One look at a pipeline run. `detail` is Synapse's status, then its message if any."""

    run_id: str
    state: RunState
    detail: str

    @property
    def done(self) -> bool:
        return self.state != "running"


class _BoundedRetryPolicy(RetryPolicy):
    """azure-core's retry policy, with two gaps closed so an activity never hangs or gives up
    on a plain throttle:

    - A `Retry-After` header is obeyed as sent (an hour is an hour); cap it at `max_wait`.
    - POST is retried on 500/503/504 but not on 429 without `Retry-After`; a throttled
      request was not processed, so retrying `createRun` on 429 cannot start a second run.
    """

    def __init__(self, *, max_wait: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_wait = max_wait

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        retry_after = super().get_retry_after(response)
        return None if retry_after is None else min(retry_after, self._max_wait)

    def _is_method_retryable(self, settings: dict[str, Any], request: Any,
                             response: Any = None) -> bool:
        if response is not None and response.status_code == 429:
            return True
        return super()._is_method_retryable(settings, request, response=response)


class SynapseRunner:
    """Starts and inspects runs of one Synapse pipeline in one workspace."""

    def __init__(
        self,
        endpoint: str,
        pipeline: str,
        credential: TokenCredential,
        *,
        retry_total: int = 3,
        retry_backoff: float = 0.8,
        max_wait: float = 10.0,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        insecure_loopback: bool = False,
    ) -> None:
        """Each call makes at most 1 + `retry_total` attempts (transient 408/429/5xx and
        connection errors), each bounded by the timeouts, sleeping at most `max_wait` seconds
        in between (a longer `Retry-After` is cut short).

        `insecure_loopback` allows http:// (bearer tokens in clear text) and is refused for
        any host but this machine: it exists for tests against a local fake service."""
        self.endpoint = _checked_endpoint(endpoint, insecure_loopback=insecure_loopback)
        self.pipeline = _checked_pipeline(pipeline)
        self._client, self._request_options = open_artifacts_client(
            self.endpoint, credential, insecure_loopback=insecure_loopback,
            retry_total=retry_total, retry_backoff=retry_backoff, max_wait=max_wait,
            connect_timeout=connect_timeout, read_timeout=read_timeout,
        )

    def start(self, step: str, parameters: dict[str, str | list[str]]) -> str:
        """Create a run of the pipeline for `step` and return its run id (no waiting)."""
        if "step" in parameters:
            raise ValueError("parameters must not contain 'step'; pass it as `step`")
        what = f"starting step {step!r} of Synapse pipeline {self.pipeline!r}"
        try:
            response = self._client.pipeline.create_pipeline_run(
                self.pipeline, parameters={"step": step, **parameters}, **self._request_options
            )
        except AzureError as error:
            raise _synapse_error(what, error) from None
        if not response.run_id:
            raise SynapseError(f"{what}: Synapse answered without a runId")
        return response.run_id

    def status(self, run_id: str) -> RunStatus:
        """The run's state now: running, succeeded or failed (cancelled counts as failed)."""
        what = f"reading Synapse pipeline run {run_id!r}"
        try:
            run = self._client.pipeline_run.get_pipeline_run(run_id, **self._request_options)
        except AzureError as error:
            raise _synapse_error(what, error) from None
        state = _STATES.get(run.status or "")
        if state is None:
            raise SynapseError(f"{what}: unknown run status {run.status!r}")
        message = _one_line(run.message or "")
        return RunStatus(run_id, state, f"{run.status}: {message}" if message else run.status)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SynapseRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_synapse_runner(
    endpoint: str | None, pipeline: str | None, client_id: str | None
) -> SynapseRunner | None:
    """The runner the settings describe (managed identity), or None when Synapse is off."""
    if not endpoint:
        return None
    if not pipeline:
        raise ConfigurationError(
            "SYNAPSE_ENDPOINT is set but SYNAPSE_PIPELINE is not: name the Synapse pipeline "
            "that runs the refresh steps"
        )
    endpoint = _checked_endpoint(endpoint, insecure_loopback=False)
    pipeline = _checked_pipeline(pipeline)
    from azure.identity import DefaultAzureCredential  # heavy import; no I/O until a request

    return SynapseRunner(
        endpoint, pipeline, DefaultAzureCredential(managed_identity_client_id=client_id)
    )


def open_artifacts_client(
    endpoint: str,
    credential: TokenCredential,
    *,
    insecure_loopback: bool = False,
    retry_total: int = 3,
    retry_backoff: float = 0.8,
    max_wait: float = 10.0,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> tuple[ArtifactsClient, dict[str, Any]]:
    """A client of the workspace's dev endpoint with `SynapseRunner`'s bounded retries and
    timeouts, and the keyword options each of its requests (and pollers) must be given."""
    endpoint = _checked_endpoint(endpoint, insecure_loopback=insecure_loopback)
    # The SDK's bearer-token policy refuses http:// unless each request says otherwise.
    request_options: dict[str, Any] = {"enforce_https": False} if insecure_loopback else {}
    retry = _BoundedRetryPolicy(
        retry_total=retry_total,
        retry_backoff_factor=retry_backoff,
        retry_backoff_max=max_wait,
        max_wait=max_wait,
    )
    client = ArtifactsClient(
        credential,
        endpoint,
        retry_policy=retry,
        connection_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    return client, request_options


def _checked_endpoint(endpoint: str, *, insecure_loopback: bool) -> str:
    parts = urlsplit(endpoint.strip())
    example = "https://<workspace>.dev.azuresynapse.net"
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(
            f"SYNAPSE_ENDPOINT {endpoint!r} is not a workspace dev endpoint like {example}"
        )
    if insecure_loopback:
        if parts.hostname not in _LOOPBACK_HOSTS:
            raise ConfigurationError(
                f"insecure_loopback is only for a local test service, not {parts.hostname!r}"
            )
        if parts.scheme not in ("http", "https"):
            raise ConfigurationError(f"SYNAPSE_ENDPOINT {endpoint!r} must be an http(s) URL")
    elif parts.scheme != "https":
        raise ConfigurationError(
            f"SYNAPSE_ENDPOINT {endpoint!r} must be an https:// URL like {example} "
            "(Synapse accepts bearer tokens over HTTPS only)"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _checked_pipeline(pipeline: str) -> str:
    if not _PIPELINE_NAME.fullmatch(pipeline):
        raise ConfigurationError(
            f"SYNAPSE_PIPELINE {pipeline!r} is not a Synapse pipeline name: up to 260 "
            "characters, starting with a letter, digit or '_', without <>*#.%&:\\+?/"
        )
    return pipeline


def _synapse_error(what: str, error: AzureError) -> SynapseError:
    """One readable line from whatever azure-core raised (HTTP error, no token, no network)."""
    if isinstance(error, HttpResponseError) and error.status_code is not None:
        code, message = _service_error(error)
        reason = " ".join(part for part in (code, message) if part)
        return SynapseError(
            f"{what} failed: HTTP {error.status_code} {reason}".rstrip(),
            status_code=error.status_code,
            code=code,
        )
    # No response: the credential gave no token, or the workspace could not be reached.
    return SynapseError(f"{what} failed: {_one_line(error.message or type(error).__name__)}")


synapse_error = _synapse_error
"""The same one-line error, for other callers of Synapse or its storage (the deploy command)."""


def _service_error(error: HttpResponseError) -> tuple[str | None, str]:
    """(code, message) from Synapse's error body: {"error": {"code", "message"}} (CloudError)
    or the same fields at the top level; the HTTP reason when the body has neither."""
    if error.error is not None and (error.error.code or error.error.message):
        return error.error.code, _one_line(error.error.message or "")
    try:
        body = json.loads(error.response.text()) if error.response is not None else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and (body.get("code") or body.get("message")):
        return (str(body["code"]) if body.get("code") else None,
                _one_line(str(body.get("message") or "")))
    return None, _one_line(error.reason or "")


def _one_line(text: str) -> str:
    return " ".join(text.split())
