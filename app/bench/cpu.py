"""CPU accounting around a wrk run, from /proc (Linux).

wrk, the server and PostgreSQL share the machine's cores, so besides the server's CPU per request
(the most portable figure) each run records PostgreSQL's CPU per request (the bench database's
backends) and how much of the host went to *other* work: host busy minus server, wrk and those
backends. A run where other work took a noticeable share was disturbed and is flagged as noisy.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from app.bench.wrk import WrkRun, run_wrk

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
NOISY_OTHER_PCT = 10.0  # other work above this share of the whole host (all cores): noisy run
# uvicorn's workers share one listening socket and each takes the connections it wins at accept
# time: wrk opens its 64 connections at once, and now and then one worker wins most of them for
# the whole run, which then measures about one worker, not two (seen: the 2-worker ceiling at
# 13.7k req/s with the host 64% busy, 23.8k with it 99% busy, minutes apart). A multi-worker run
# whose busiest worker did more than this share of the workers' CPU is re-run on new connections
# (`MAX_ATTEMPTS` in all), for the ceiling and the product alike.
IMBALANCED_WORKER_PCT = 65.0
MAX_ATTEMPTS = 4


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3, `state`, comes first)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def _pids_where(index: int, value: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[index] == str(value):
                found.append(int(entry.name))
    return found


def group_members(pgid: int) -> list[int]:
    """Processes in process group `pgid`."""
    return _pids_where(2, pgid)


def ticks_of(pid: int) -> int | None:
    """utime + stime of one process, in clock ticks (None once it is gone)."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[11]) + int(fields[12])


def process_tree_ticks(pid: int) -> int:
    """utime + stime (clock ticks) of PID and its direct children (the uvicorn workers)."""
    return sum(ticks_of(p) or 0 for p in (pid, *_pids_where(1, pid)))


def ticks_by_pid(pids: Iterable[int]) -> dict[int, int]:
    """`ticks_of` each process still there, by PID."""
    ticks = {}
    for pid in pids:
        value = ticks_of(pid)
        if value is not None:
            ticks[pid] = value
    return ticks


def children_ticks(pid: int) -> dict[int, int]:
    """utime + stime (clock ticks) of each direct child of PID (the uvicorn workers)."""
    return ticks_by_pid(_pids_where(1, pid))


def postgres_backends(database: str) -> list[int]:
    """PIDs of local PostgreSQL backends connected to `database`, found by their process title
    ("postgres: 15/main: USER DATABASE HOST(PORT) STATE"). Only read, never signalled."""
    found = []
    needle = f" {database} "
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres:") and needle in title:
            found.append(int(entry.name))
    return found


def host_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole host since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class _Snapshot:
    server: int
    workers: dict[int, int]
    postgres: dict[int, int]
    host_busy: int
    host_total: int
    children_s: float


class CpuProbe:
    """Measures one wrk run: server, PostgreSQL and other CPU, and how the server's workers
    shared the load."""

    def __init__(
        self,
        server_ticks: Callable[[], int],
        database: str | None,
        worker_ticks: Callable[[], dict[int, int]] | None = None,
    ) -> None:
        self.server_ticks = server_ticks
        self.database = database
        self.worker_ticks = worker_ticks

    def _postgres(self) -> dict[int, int]:
        if self.database is None:
            return {}
        return ticks_by_pid(postgres_backends(self.database))

    def _snapshot(self) -> _Snapshot:
        busy, total = host_ticks()
        workers = self.worker_ticks() if self.worker_ticks is not None else {}
        return _Snapshot(
            self.server_ticks(), workers, self._postgres(), busy, total, _children_cpu_s()
        )

    def measure(
        self,
        url: str,
        *,
        conns: int,
        seconds: int,
        token: str | None,
        requests_file: Path | None = None,
        burst: bool = False,
    ) -> WrkRun:
        before = self._snapshot()
        run = run_wrk(
            url,
            conns=conns,
            seconds=seconds,
            token=token,
            requests_file=requests_file,
            burst=burst,
        )
        after = self._snapshot()
        hz = CLOCK_TICKS_PER_S
        server = after.server - before.server
        # Backends that connected during the run count from zero.
        postgres = sum(t - before.postgres.get(pid, 0) for pid, t in after.postgres.items())
        wrk = (after.children_s - before.children_s) * hz
        total = after.host_total - before.host_total
        busy = after.host_busy - before.host_busy
        per_req = 1000 / hz / run.requests if run.requests else None
        shares = [t - before.workers.get(pid, 0) for pid, t in after.workers.items()]
        busiest = 100 * max(shares) / sum(shares) if len(shares) > 1 and sum(shares) > 0 else None
        return replace(
            run,
            busiest_worker_pct=busiest,
            server_cpu_ms_per_req=None if per_req is None else server * per_req,
            postgres_cpu_ms_per_req=(
                None if per_req is None or self.database is None else postgres * per_req
            ),
            host_busy_pct=100 * busy / total if total > 0 else None,
            other_cpu_pct=(
                max(0.0, 100 * (busy - server - postgres - wrk) / total) if total > 0 else None
            ),
        )
