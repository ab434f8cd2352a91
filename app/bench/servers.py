"""Servers under test: started as our own child process, tracked by PID, always stopped.

Each server runs in a new session (its PID is also its process group id), so stopping it never
touches processes we did not start: SIGTERM to the PID (uvicorn's supervisor stops its workers),
then, only if it hangs, SIGKILL to that process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx

from app.bench.cpu import children_ticks, group_members, process_tree_ticks
from app.bench.wrk import BenchError, require_loopback

READY_TIMEOUT_S = 180.0  # a loaded 2-core host: uvicorn may restart a worker slow to start
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`with Server(...) as server:` starts the command, waits until `ready_url` answers."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        ready_url: str,
        log_path: Path,
    ) -> None:
        require_loopback(ready_url)
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.ready_url = ready_url
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise BenchError(f"{self.name} is not running")
        return self._process.pid

    def cpu_ticks(self) -> int:
        return process_tree_ticks(self.pid)

    def worker_ticks(self) -> dict[int, int]:
        """CPU ticks of each worker process (uvicorn's children; none with one worker)."""
        return children_ticks(self.pid)

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                httpx.get(self.ready_url, timeout=2.0)
            except httpx.HTTPError:
                time.sleep(0.25)
                continue
            return
        raise BenchError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                # Still our unreaped child, so its process group is still ours.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT_S)
        # Anything left in the group we created (e.g. a worker orphaned by a crashed supervisor).
        for leftover in group_members(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
