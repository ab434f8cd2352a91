"""Bounded wrk runs against loopback URLs, parsed through `lua/wrk_report.lua`.

Every wrk call is bounded twice: by `-d` and by a subprocess timeout. wrk counts only 4xx/5xx as
errors, so each read is preceded by a check that the exact request (same URL, same token) answers
200: a redirect or an expired token would otherwise be measured as success.

A burst (`run_wrk(..., burst=True)`) is different: its requests are writes that may be sent only
once (each member's own check-in or quiz submit, with its own token, body and Idempotency-Key),
so nothing is sent before it; the Lua script walks the prepared list once, counts every answer
that is not 2xx itself, and says on stderr when the last answer arrived; wrk is then stopped
(SIGINT: it prints its summary at once), so req/s is the burst's size over its own duration.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

LUA_SCRIPT = Path(__file__).with_name("lua") / "wrk_report.lua"
WRK_THREADS = 1  # on a 2-core box wrk shares the CPU with the server: one thread loses nothing
WRK_TIMEOUT_S = 10  # a response slower than this counts as a wrk timeout
_GRACE_S = 30  # subprocess timeout beyond -d
_LOOPBACK_PREFIXES = ("http://127.", "http://localhost:", "http://localhost/", "http://[::1]")


class BenchError(RuntimeError):
    """The benchmark cannot go on (setup failed, a URL does not answer 200, wrk failed)."""


def require_loopback(url: str) -> None:
    if not url.startswith(_LOOPBACK_PREFIXES):
        raise BenchError(f"refusing a non-loopback target: {url}")


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    return path


def wrk_version() -> str:
    done = subprocess.run(
        [wrk_path(), "-v"], capture_output=True, text=True, timeout=10, check=False
    )
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "unknown"


@dataclass(frozen=True, slots=True)
class WrkRun:
    """One wrk run; the CPU figures are filled in by `cpu.CpuProbe`."""

    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    requests: int
    non2xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    seconds: float
    # A burst's own counts (None for reads): requests in the list, sent, answered.
    planned: int | None = None
    sent: int | None = None
    failures: str | None = None  # "STATUS/code*count,…" of the answers that were not 2xx
    server_cpu_ms_per_req: float | None = None
    postgres_cpu_ms_per_req: float | None = None
    host_busy_pct: float | None = None
    other_cpu_pct: float | None = None  # host CPU used by neither server, wrk nor PostgreSQL
    # Of several workers, the busiest one's share of their CPU (`cpu.IMBALANCED_WORKER_PCT`).
    busiest_worker_pct: float | None = None
    attempts: int = 1  # runs it took to get one whose workers shared the load

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors

    @property
    def errors(self) -> int:
        """Every failed request: non-2xx answers, socket errors and timeouts."""
        return self.non2xx + self.socket_errors + self.timeouts


def parse_result(output: str) -> WrkRun:
    """Parse the `RESULT key=value …` line printed by `wrk_report.lua`."""
    for line in output.splitlines():
        if line.startswith("RESULT "):
            fields = dict(item.split("=", 1) for item in line.split()[1:])
            return WrkRun(
                rps=float(fields["rps"]),
                p50_ms=float(fields["p50_ms"]),
                p90_ms=float(fields["p90_ms"]),
                p99_ms=float(fields["p99_ms"]),
                max_ms=float(fields["max_ms"]),
                mean_ms=float(fields["mean_ms"]),
                requests=int(fields["requests"]),
                non2xx=int(fields["non2xx"]),
                connect_errors=int(fields["connect_err"]),
                read_errors=int(fields["read_err"]),
                write_errors=int(fields["write_err"]),
                timeouts=int(fields["timeouts"]),
                seconds=float(fields["secs"]),
                planned=int(fields["planned"]) if "planned" in fields else None,
                sent=int(fields["sent"]) if "sent" in fields else None,
                failures=fields.get("failures") if fields.get("failures") != "-" else None,
            )
    raise BenchError(f"wrk printed no RESULT line:\n{output[-2000:]}")


def check_200(url: str, token: str | None) -> int:
    """Send the exact request wrk will send; return the body size, or fail unless it is 200."""
    require_loopback(url)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(url, headers=headers, timeout=10.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise BenchError(f"{url} did not answer: {exc}") from exc
    if response.status_code != 200:
        raise BenchError(f"{url} answered {response.status_code}, not 200: {response.text[:300]}")
    return len(response.content)


@dataclass(frozen=True, slots=True)
class Request:
    """One request of a prepared list: a read variant, or one member's write (a burst)."""

    path: str
    token: str | None = None
    method: str = "GET"
    body: str | None = None  # JSON, one line
    idempotency_key: str | None = None


def write_requests(path: Path, requests: Sequence[tuple[str, str | None] | Request]) -> Path:
    """The `BENCH_REQUESTS` file, one request a line: "PATH<TAB>TOKEN" for a read variant,
    "PATH<TAB>TOKEN<TAB>METHOD<TAB>IDEMPOTENCY_KEY<TAB>BODY" for a write."""
    lines = []
    for item in requests:
        request = item if isinstance(item, Request) else Request(item[0], item[1])
        line = f"{request.path}\t{request.token or ''}"
        if request.method != "GET" or request.body is not None or request.idempotency_key:
            for field in (request.method, request.idempotency_key or "", request.body or ""):
                if "\t" in field or "\n" in field:
                    raise BenchError(f"a request field holds a tab or a newline: {field[:80]!r}")
            line += f"\t{request.method}\t{request.idempotency_key or ''}\t{request.body or ''}"
        lines.append(line + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def run_wrk(
    url: str,
    *,
    conns: int,
    seconds: int,
    token: str | None,
    requests_file: Path | None = None,
    burst: bool = False,
) -> WrkRun:
    """One bounded wrk run (`-d` plus a subprocess timeout). With `requests_file`, wrk sends
    its requests (paths on `url`'s host, each with its own token) in turn; with `burst`, each
    once, and the run ends when the last one is answered (`seconds` is then the bound)."""
    require_loopback(url)
    if burst and requests_file is None:
        raise BenchError("a burst needs its requests file")
    env = dict(os.environ)
    env.pop("BENCH_METHOD", None)
    env.pop("BENCH_BODY", None)
    env.pop("BENCH_CTYPE", None)
    env["BENCH_TOKEN"] = token or ""
    env["BENCH_REQUESTS"] = str(requests_file) if requests_file else ""
    env["BENCH_BURST"] = "1" if burst else ""
    argv = [
        wrk_path(),
        f"-t{min(WRK_THREADS, conns)}",
        f"-c{conns}",
        f"-d{seconds}s",
        "--timeout",
        f"{WRK_TIMEOUT_S}s",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]
    if burst:
        return _run_burst(argv, env, seconds)
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=env,
            timeout=seconds + _GRACE_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish within {seconds + _GRACE_S} s") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk exited with {done.returncode}: {done.stderr[-2000:]}")
    return parse_result(done.stdout)


BURST_DONE = "BURST_DONE"  # the Lua script's stderr line once the last answer arrived


def _run_burst(argv: list[str], env: dict[str, str], seconds: int) -> WrkRun:
    """wrk with the burst script: stopped with SIGINT (its summary then comes at once) when the
    script says the last request was answered, or at `-d` if the server never answers them all.
    wrk is our own child; only it is signalled."""
    deadline = time.monotonic() + seconds + _GRACE_S
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    errors: list[str] = []
    try:
        assert process.stderr is not None  # noqa: S101 - PIPE above
        for line in process.stderr:
            if line.strip() == BURST_DONE:
                process.send_signal(signal.SIGINT)
                break
            errors.append(line)
        out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.communicate()
        raise BenchError(f"wrk did not finish within {seconds + _GRACE_S} s") from exc
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise BenchError(f"wrk exited with {process.returncode}: {(''.join(errors) + err)[-2000:]}")
    return parse_result(out)
