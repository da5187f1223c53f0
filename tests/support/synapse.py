"""A loopback stand-in for a Synapse workspace dev endpoint, and a fixed credential.

The stand-in speaks whatever REST shape a test queues replies for (azure-synapse-artifacts'
requests: `POST /pipelines/{name}/createRun`, `GET /pipelineruns/{runId}`, artifact PUTs…),
answers them in order and records every request, so the real SDK's requests are exercised.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken

from shared.synapse import SynapseRunner


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeSynapse:
    """The dev endpoint as far as pipeline runs go: queued replies out, requests recorded."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    replies: deque[tuple[int, Any, dict[str, str]]] = field(default_factory=deque)

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.replies.append((status, body, headers or {}))


def _handler(fake: FakeSynapse) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = urlsplit(self.path)
            fake.requests.append(Request(self.command, url.path, parse_qs(url.query),
                                         dict(self.headers.items()), body))
            status, payload, headers = (
                fake.replies.popleft() if fake.replies
                else (500, {"error": {"code": "NoReply", "message": "nothing queued"}}, {})
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def fake_synapse() -> Iterator[FakeSynapse]:
    """A stand-in served on a free loopback port until the block ends."""
    fake = FakeSynapse()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    host, port = server.server_address[:2]
    fake.url = f"http://{host}:{port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:  # ready when it accepts a connection
        try:
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


class FixedCredential:
    """A TokenCredential that always has the same token (or always fails)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self._error = error

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        if self._error:
            raise self._error
        return AccessToken("test-token", int(time.time()) + 3600)


def runner_for(fake: FakeSynapse, credential: FixedCredential | None = None,
               **options: Any) -> SynapseRunner:
    """A runner of pipeline `refresh` on the stand-in, retrying without waiting."""
    options = {"retry_backoff": 0, "max_wait": 0, **options}
    return SynapseRunner(fake.url, "refresh", credential or FixedCredential(),
                         insecure_loopback=True, **options)
