"""The Durable extension's HTTP API, as far as the Python Durable client uses it, on loopback.

In Azure the Functions host gives a durable client binding a JSON context whose
`rpcBaseUrl` points at the Durable extension's local HTTP endpoint; the Python client
(`df.DurableOrchestrationClient`) talks HTTP to it with aiohttp. `FakeExtension` serves
the two routes our starter needs, with the extension's status codes and bodies:

- GET  {rpcBaseUrl}instances/{id}: 404 with no body when unknown; otherwise the status
  JSON, 202 while the instance is running (Pending, Running, ContinuedAsNew, Suspended),
  200 when it is over (Completed, Failed, Terminated, Canceled).
- POST {rpcBaseUrl}orchestrators/{function}/{id}: 202 with the check-status payload; the
  instance is then Pending. An id whose instance is still running is refused (500), as
  the extension does by default (only instances that are over may be replaced).

Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

TASK_HUB = "shoplakehub"
PUBLIC_BASE = "http://localhost:7071/runtime/webhooks/durabletask"
CODE = "c2hvcGxha2Uta2V5"
RUNNING = {"Pending", "Running", "ContinuedAsNew", "Suspended"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def management_urls(instance_id: str = "INSTANCEID") -> dict[str, str]:
    """The host's management URLs for an instance (its placeholder id by default)."""
    query = f"taskHub={TASK_HUB}&connection=Storage&code={CODE}"
    base = f"{PUBLIC_BASE}/instances/{instance_id}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{base}?{query}",
        "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{base}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{base}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{base}?{query}",
        "restartPostUri": f"{base}/restart?{query}",
        "suspendPostUri": f"{base}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{base}/resume?reason={{text}}&{query}",
    }


class FakeExtension:
    def __init__(self) -> None:
        self.instances: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def rpc_base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/durabletask/"

    def start(self) -> FakeExtension:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def binding(self) -> str:
        """The durable client binding's JSON, as the host passes it to the worker."""
        return json.dumps({
            "taskHubName": TASK_HUB,
            "creationUrls": {
                "createNewInstancePostUri":
                    f"{PUBLIC_BASE}/orchestrators/{{functionName}}[/{{instanceId}}]?code={CODE}",
                "createAndWaitOnNewInstancePostUri":
                    f"{PUBLIC_BASE}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout="
                    f"{{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&code={CODE}",
            },
            "managementUrls": management_urls(),
            "baseUrl": PUBLIC_BASE,
            "requiredQueryStringParameters": f"code={CODE}",
            "rpcBaseUrl": self.rpc_base_url,
            "httpBaseUrl": "",
        })

    def set_status(self, instance_id: str, runtime_status: str, *, name: str = "nightly_refresh",
                   output: Any = None) -> None:
        with self._lock:
            self.instances[instance_id] = {
                "name": name, "instanceId": instance_id, "runtimeStatus": runtime_status,
                "createdTime": "2026-11-28T02:00:00Z", "lastUpdatedTime": "2026-11-28T02:10:00Z",
                "input": None, "output": output, "customStatus": None}

    def starts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    # Request handling (on the server's threads) ---------------------------------------

    def _handle(self, method: str, target: str, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        with self._lock:
            self.requests.append(Request(method, parts.path, parts.query, body))
            route = unquote(parts.path).removeprefix("/durabletask/").split("/")
            if method == "GET" and len(route) == 2 and route[0] == "instances":
                status = self.instances.get(route[1])
                if status is None:
                    return 404, None
                return (202 if status["runtimeStatus"] in RUNNING else 200), status
            if method == "POST" and len(route) == 3 and route[0] == "orchestrators":
                function, instance_id = route[1], route[2]
                existing = self.instances.get(instance_id)
                if existing is not None and existing["runtimeStatus"] in RUNNING:
                    return 500, {"Message": "Something went wrong while processing your request",
                                 "ExceptionMessage": f"An Orchestration instance with the status "
                                 f"{existing['runtimeStatus']} already exists."}
                self.instances[instance_id] = {
                    "name": function, "instanceId": instance_id, "runtimeStatus": "Pending",
                    "createdTime": "2026-11-28T02:00:00Z",
                    "lastUpdatedTime": "2026-11-28T02:00:00Z",
                    "input": json.loads(body) if body else None, "output": None,
                    "customStatus": None}
                return 202, management_urls(instance_id)
            return 404, None


def _handler(extension: FakeExtension) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = extension._handle(method, self.path, self.rfile.read(length))
            body = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if body:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler
