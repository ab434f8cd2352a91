"""A local stand-in for FCM HTTP v1 and Google's OAuth token endpoint, over real HTTP/1.1.

Tests and `handbook bench push` point the real firebase-admin SDK (and the lean sender) at it:
a service account whose `token_uri` is `{base}/token`, and `FCM__SEND_URL` =
`{base}/v1/projects/{project_id}/messages:send`.

- `POST /token`: a JWT-bearer grant answered with an access token (the stub checks later sends
  carry it).
- `POST /v1/projects/{p}/messages:send`: tokens starting with `unregistered` get 404
  UNREGISTERED, `invalid` 400 INVALID_ARGUMENT; scripted answers (`script(...)`) apply to the next
  sends: `429` (QUOTA_EXCEEDED with `Retry-After`), `500`, `503`; everything else 200 with a
  message name. Every accepted message is counted by its idempotency key (`data.message_id`), so
  duplicates show.
- `GET /stats`: the counts as JSON (the benchmark reads them from another process).

Run `python -m app.bench.fcm_stub --port 0` to serve it in a process of its own (prints the port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def _error(status: int, canonical: str, fcm_code: str | None, message: str) -> bytes:
    error: dict[str, Any] = {"code": status, "message": message, "status": canonical}
    if fcm_code:
        error["details"] = [{"@type": _FCM_ERROR, "errorCode": fcm_code}]
    return orjson.dumps({"error": error})


@dataclass
class Stats:
    requests: int = 0
    accepted: int = 0
    token_requests: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    keys: Counter[str] = field(default_factory=Counter)  # message_id -> times accepted
    tokens: Counter[str] = field(default_factory=Counter)  # device token -> times accepted
    titles: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)  # last messages (tests)

    def duplicates(self) -> int:
        return sum(n - 1 for n in self.keys.values() if n > 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "unique": len(self.keys),
            "duplicates": self.duplicates(),
            "token_requests": self.token_requests,
            "rejected": dict(self.rejected),
        }


class FcmStub:
    """The server; `serve()` on a running loop, or `start_in_thread()` for synchronous callers."""

    def __init__(self, *, record_bodies: int = 1000, retry_after_s: int = 30) -> None:
        self.stats = Stats()
        self.access_token = "stub-" + secrets.token_hex(8)
        self.retry_after_s = retry_after_s
        self.delay_s = 0.0  # added to every send (a slow FCM: batches stay in flight longer)
        self._script: deque[int] = deque()
        self._record = record_bodies
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self._lock = threading.Lock()
        self._writers: set[asyncio.StreamWriter] = set()

    # --- control ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def send_url(self) -> str:
        return self.base_url + "/v1/projects/{project_id}/messages:send"

    def script(self, *statuses: int) -> None:
        """Answer the next sends with these statuses (429, 500, 503), in order."""
        with self._lock:
            self._script.extend(statuses)

    def reset(self) -> None:
        with self._lock:
            self.stats = Stats()
            self._script.clear()

    # --- serving ------------------------------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, host, port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def start_in_thread(self) -> FcmStub:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self.serve())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fcm-stub", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            with contextlib.suppress(Exception):
                future.result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):  # handlers see EOF and end
            writer.close()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        await asyncio.wait(tasks, timeout=2) if tasks else None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.split(b"\r\n")
                method, path, _ = lines[0].split(b" ", 2)
                headers: dict[bytes, bytes] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(b":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get(b"content-length", b"0"))
                body = await reader.readexactly(length) if length else b""
                status, extra, payload = self._answer(method, path, headers, body)
                if self.delay_s and path.endswith(b"/messages:send"):
                    await asyncio.sleep(self.delay_s)
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=UTF-8\r\n"
                    b"Content-Length: %d\r\n%s\r\n"
                    % (status, b"OK" if status == 200 else b"Error", len(payload), extra)
                    + payload
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    def _answer(
        self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, bytes, bytes]:
        if method == b"POST" and path.endswith(b"/token"):
            self.stats.token_requests += 1
            if b"assertion=" not in body:
                return 400, b"", b'{"error": "invalid_grant"}'
            return (
                200,
                b"",
                orjson.dumps(
                    {"access_token": self.access_token, "expires_in": 3600, "token_type": "Bearer"}
                ),
            )
        if method == b"GET" and path == b"/stats":
            return 200, b"", orjson.dumps(self.stats.as_json())
        if method != b"POST" or not path.endswith(b"/messages:send"):
            return 404, b"", _error(404, "NOT_FOUND", None, "no such endpoint")
        stats = self.stats
        stats.requests += 1
        if headers.get(b"authorization") != b"Bearer " + self.access_token.encode():
            stats.rejected["UNAUTHENTICATED"] += 1
            return 401, b"", _error(401, "UNAUTHENTICATED", None, "bad credentials")
        try:
            message = orjson.loads(body)["message"]
            token = message["token"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            stats.rejected["INVALID_ARGUMENT"] += 1
            return 400, b"", _error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "bad message")
        scripted = None
        if self._script:
            with self._lock:
                scripted = self._script.popleft() if self._script else None
        if scripted == 429:
            stats.rejected["QUOTA_EXCEEDED"] += 1
            return (
                429,
                b"Retry-After: %d\r\n" % self.retry_after_s,
                _error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "quota exceeded"),
            )
        if scripted in (500, 503):
            canonical = "INTERNAL" if scripted == 500 else "UNAVAILABLE"
            stats.rejected[canonical] += 1
            return scripted, b"", _error(scripted, canonical, canonical, "try again")
        if token.startswith("unregistered"):
            stats.rejected["UNREGISTERED"] += 1
            return 404, b"", _error(404, "NOT_FOUND", "UNREGISTERED", "not registered")
        if token.startswith("invalid"):
            stats.rejected["INVALID_ARGUMENT"] += 1
            return 400, b"", _error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "bad token")
        stats.accepted += 1
        key = str((message.get("data") or {}).get("message_id", ""))
        stats.keys[key] += 1
        if self._record:
            stats.tokens[token] += 1
            if len(stats.bodies) < self._record:
                stats.bodies.append(message)
        name = b'{"name": "projects/stub/messages/%d"}' % stats.accepted
        return 200, b"", name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    stub = FcmStub(record_bodies=0)

    async def run() -> None:
        await stub.serve(args.host, args.port)
        print(stub.port, flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:  # pragma: no cover
        asyncio.run(run())


def fake_service_account(token_uri: str, project_id: str = "handbook-stub") -> dict[str, Any]:
    """A service account key of a freshly generated RSA key whose `token_uri` is the stub's."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": f"firebase-adminsdk@{project_id}.iam.gserviceaccount.com",
        "client_id": "1" + "0" * 20,
        "token_uri": token_uri,
    }


if __name__ == "__main__":
    main()
