"""Local stand-ins for outside services, served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, cast

HANG: Final = "hang"  # a scripted action: read the request, never answer it


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    server: _StubHttpServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        stub = self.server.stub
        action = stub.record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
        )
        if action == HANG:
            stub.release.wait(timeout=30)  # until the test ends; the client has given up by then
            return
        status = int(action)
        payload = json.dumps({"accepted": 200 <= status < 300}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - keep test output quiet
        return None


class _StubHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stub: StubSmsServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stub = stub


class StubSmsServer:
    """A local SMS provider: answers with scripted statuses (then 200) and records requests."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.release = threading.Event()
        self._actions: deque[int | str] = deque()
        self._lock = threading.Lock()
        self._httpd = _StubHttpServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = cast(tuple[str, int], self._httpd.server_address)
        return f"http://{host}:{port}/v1/sms"

    def script(self, *actions: int | str) -> None:
        with self._lock:
            self._actions.extend(actions)

    def record(self, request: RecordedRequest) -> int | str:
        with self._lock:
            self.requests.append(request)
            return self._actions.popleft() if self._actions else 200

    def wait_for_requests(self, count: int, deadline_s: float = 10.0) -> list[RecordedRequest]:
        """The recorded requests once `count` have arrived (a bound for slow machines only)."""
        give_up = time.monotonic() + deadline_s
        while len(self.requests) < count and time.monotonic() < give_up:
            time.sleep(0.01)
        return list(self.requests)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
