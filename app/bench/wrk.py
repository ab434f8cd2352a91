"""Bounded wrk runs against loopback URLs, parsed through `lua/wrk_report.lua`.

Every wrk call is bounded twice: by `-d` and by a subprocess timeout. wrk counts only 4xx/5xx as
errors, so each call is preceded by a check that the exact request (same URL, same token) answers
200: a redirect or an expired token would otherwise be measured as success.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
    server_cpu_ms_per_req: float | None = None
    postgres_cpu_ms_per_req: float | None = None
    host_busy_pct: float | None = None
    other_cpu_pct: float | None = None  # host CPU used by neither server, wrk nor PostgreSQL

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


def write_requests(path: Path, requests: list[tuple[str, str | None]]) -> Path:
    """The `BENCH_REQUESTS` file: one "PATH<TAB>TOKEN" line per request variant."""
    path.write_text("".join(f"{p}\t{t or ''}\n" for p, t in requests), encoding="utf-8")
    return path


def run_wrk(
    url: str,
    *,
    conns: int,
    seconds: int,
    token: str | None,
    requests_file: Path | None = None,
) -> WrkRun:
    """One bounded wrk run (`-d` plus a subprocess timeout). With `requests_file`, wrk sends
    its requests (paths on `url`'s host, each with its own token) in turn."""
    require_loopback(url)
    env = dict(os.environ)
    env.pop("BENCH_METHOD", None)
    env.pop("BENCH_BODY", None)
    env.pop("BENCH_CTYPE", None)
    env["BENCH_TOKEN"] = token or ""
    env["BENCH_REQUESTS"] = str(requests_file) if requests_file else ""
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
