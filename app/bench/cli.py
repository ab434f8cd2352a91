"""The `handbook bench` command: ceiling and product reads in one run, report to docs/benchmarks/.

Order of a run: database (create, migrate, seed once), then for 1 and then 2 workers the ceiling
server and the product server in turn, each measured and stopped before the next one starts; at 2
workers (the judged count) the ceiling server stays up beside the product's and is measured again
just before each judged read and burst, which is judged against that ceiling.
Write bursts run on the 2-worker product server after its reads: for each, a warm-up burst and
`runs` bursts, each on targets prepared just before it and checked in the database just after.
Then the measured parts (the member import), each on its own. A run of measured parts only
starts no server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from app.bench.bursts import BurstKind
    from app.bench.cpu import CpuProbe
    from app.bench.dataset import TokenMinter
    from app.bench.parts import Burst, Part, Read
    from app.bench.report import ConfigResult
    from app.bench.servers import Server
    from app.bench.wrk import WrkRun

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/handbook_bench"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = PROJECT_ROOT / "docs" / "benchmarks"
# Settings the server must not inherit from the caller's environment (the run sets its own).
_APP_ENV = frozenset(
    {
        "ENV",
        "DATABASE_URL",
        "REDIS_URL",
        "DATA_DIR",
        "AUTH",
        "SMS",
        "DB",
        "API",
        "LOG",
        "RULES",
        "HOST",
        "PORT",
        "WEB_CONCURRENCY",
        "FORWARDED_ALLOW_IPS",
        "PROMETHEUS_MULTIPROC_DIR",
    }
)
LOGIN_LIMIT = "1000000"
BURST_SIZE = 2_000  # writes in each measured burst (the warm-up burst is a quarter of it)
_APP_ENV_PREFIXES = ("AUTH__", "SMS__", "DB__", "API__", "LOG__", "RULES__")


@dataclass(frozen=True)
class Target:
    """A read as measured: its request variants, one per persona pick."""

    part: str
    read: Read
    variants: tuple[tuple[str, int, str], ...]  # (path, member_id, session_id)
    personas: str

    def requests(self, minter: TokenMinter) -> list[tuple[str, str | None]]:
        return [(path, minter.mint(member, session)) for path, member, session in self.variants]


@dataclass(frozen=True)
class Plan:
    database_url: str
    duration_s: int
    runs: int
    warmup_s: int
    variants: int = 8
    burst_size: int = BURST_SIZE


def _server_env(database_url: str, secret: str, data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in _APP_ENV and not key.upper().startswith(_APP_ENV_PREFIXES)
    }
    env.update(
        ENV="prod",
        DATABASE_URL=database_url,
        DATA_DIR=str(data_dir),
        AUTH__SECRET_KEY=secret,
        AUTH__ACCESS_TTL_S="900",
        SMS__GATEWAY="http",
        SMS__URL="http://127.0.0.1:9/unused",
        LOG__ACCESS="off",
        # The logins part sends 5 logins a second from 127.0.0.1: the per-IP limit is raised.
        AUTH__LOGIN_ATTEMPTS_PER_IP_PER_HOUR=LOGIN_LIMIT,
    )
    return env


def _host_busy_pct(seconds: float) -> float:
    """How busy the whole host is with nothing of ours running (0-100, all cores)."""
    from app.bench.cpu import host_ticks

    busy0, total0 = host_ticks()
    time.sleep(seconds)
    busy1, total1 = host_ticks()
    return 100 * (busy1 - busy0) / max(1, total1 - total0)


def _source_stamp() -> list[tuple[str, int]]:
    """Modification times of the app's Python files, to notice code edited during a run."""
    return sorted(
        (str(path.relative_to(PROJECT_ROOT)), path.stat().st_mtime_ns)
        for path in (PROJECT_ROOT / "app").rglob("*.py")
    )


def _handbook_argv() -> list[str]:
    script = Path(sys.executable).parent / "handbook"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def _check_all(base: str, variants: list[tuple[str, str | None]]) -> int:
    """Every variant answers 200; the first one's body size."""
    from app.bench.wrk import check_200

    sizes = [check_200(base + path, token) for path, token in variants]
    return sizes[0]


class Runner:
    def __init__(self, plan: Plan, console: Console, workdir: Path) -> None:
        self.plan = plan
        self.console = console
        self.workdir = workdir

    def measure(
        self,
        result: ConfigResult,
        base: str,
        requests: Callable[[], list[tuple[str, str | None]]],
        probe: CpuProbe,
    ) -> None:
        """Warm-up then the measured runs; fresh tokens and a 200 check of every request
        variant before each wrk call."""
        from app.bench.cpu import NOISY_OTHER_PCT
        from app.bench.report import CEILING
        from app.bench.wrk import BenchError, write_requests

        name = f"{result.label} w{result.workers} c{result.conns}"
        steps = [("warm-up", self.plan.warmup_s)] + [
            (f"run {i}/{self.plan.runs}", self.plan.duration_s)
            for i in range(1, self.plan.runs + 1)
        ]
        for step, seconds in steps:
            variants = requests()
            size: int | None
            try:
                size = _check_all(base, variants)
            except BenchError as exc:
                if result.target == CEILING:
                    raise
                if step == "warm-up":
                    # Before any load: the product answers this request wrongly. Record it.
                    result.failure = str(exc)
                    self.console.print(f"[red]{name}: {exc}[/red]")
                    return
                # Mid-measurement: give a saturated server time to drain its queue.
                size = self._recheck(base, requests, exc, result, name)
                if size is None:
                    return
            result.response_bytes = size
            listing = None
            if len(variants) > 1:
                listing = write_requests(self.workdir / "requests.tsv", variants)
            run = self._balanced_run(
                name,
                step,
                partial(
                    probe.measure,
                    base + variants[0][0],
                    conns=result.conns,
                    seconds=seconds,
                    token=variants[0][1],
                    requests_file=listing,
                ),
            )
            if step == "warm-up":
                result.warmup = run
            else:
                result.runs.append(run)
            cpu = ""
            if run.server_cpu_ms_per_req is not None:
                cpu += f", server CPU {run.server_cpu_ms_per_req:.3f} ms/req"
            if run.postgres_cpu_ms_per_req is not None:
                cpu += f", PG CPU {run.postgres_cpu_ms_per_req:.3f} ms/req"
            other = run.other_cpu_pct
            noise = ""
            if other is not None and other > NOISY_OTHER_PCT:
                noise = f" [yellow](noisy: {other:.0f}% of the host went to other work)[/yellow]"
            self.console.print(
                f"  {name} {step}: {run.rps:,.0f} req/s, p50 {run.p50_ms:.1f} ms, "
                f"p99 {run.p99_ms:.1f} ms, max {run.max_ms:.0f} ms{cpu}, "
                f"errors {run.non2xx}/{run.socket_errors}/{run.timeouts}{noise}"
            )

    def _balanced_run(self, name: str, step: str, measure: Callable[[], WrkRun]) -> WrkRun:
        """One wrk run whose connections the server's workers shared
        (`cpu.IMBALANCED_WORKER_PCT`): re-run on new connections up to `cpu.MAX_ATTEMPTS` times
        in all, else the last one."""
        from app.bench.cpu import IMBALANCED_WORKER_PCT, MAX_ATTEMPTS

        for attempt in range(1, MAX_ATTEMPTS + 1):
            run = replace(measure(), attempts=attempt)
            busiest = run.busiest_worker_pct
            if busiest is None or busiest <= IMBALANCED_WORKER_PCT or attempt == MAX_ATTEMPTS:
                return run
            self.console.print(
                f"  [yellow]{name} {step}: one worker did {busiest:.0f}% of the work "
                f"({run.rps:,.0f} req/s): again on new connections[/yellow]"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def burst(
        self,
        result: ConfigResult,
        base: str,
        burst: Burst,
        kind: BurstKind,
        minter: TokenMinter,
        probe: CpuProbe,
        server_log: Path | None = None,
    ) -> None:
        """A warm-up burst, then the measured ones: each on fresh targets (every member's own
        write, token and Idempotency-Key), each sent once, each checked in the database."""
        from app.bench import dataset as ds
        from app.bench.bursts import new_key
        from app.bench.wrk import Request, write_requests

        name = f"{result.label} w{result.workers} c{result.conns}"
        url = self.plan.database_url
        size = self.plan.burst_size
        method = burst.path.split(" ", 1)[0]
        steps = [("warm-up", max(1, size // 4))] + [
            (f"run {i}/{self.plan.runs}", size) for i in range(1, self.plan.runs + 1)
        ]
        for step, count in steps:
            batch = asyncio.run(ds.burst_prepare(url, kind, count))
            if len(batch.writes) < count:
                result.failure = (
                    f"the province has targets for {len(batch.writes):,} of the {count:,} "
                    f"writes of the {step} burst (a larger --members, or a smaller --burst-size)"
                )
                self.console.print(f"[red]{name}: {result.failure}[/red]")
                return
            sessions = asyncio.run(ds.open_sessions(url, batch.members))
            requests = [
                Request(
                    w.path,
                    minter.mint(w.member_id, sessions[w.member_id]),
                    method,
                    w.body_json(),
                    new_key(),
                )
                for w in batch.writes
            ]
            listing = write_requests(self.workdir / "burst.tsv", requests)
            bound = max(30, count // 20)  # seconds: a burst slower than 20 writes/s fails
            run = probe.measure(
                base + requests[0].path,
                conns=result.conns,
                seconds=bound,
                token=None,
                requests_file=listing,
                burst=True,
            )
            check = asyncio.run(ds.burst_check(url, kind, batch))
            result.checks.append({"step": step, **check.as_dict()})
            result.persona = batch.description
            if step == "warm-up":
                result.warmup = run
            else:
                result.runs.append(run)
            verdict = "[green]ok[/green]" if check.passed else "[red]FAILED[/red]"
            self.console.print(
                f"  {name} {step}: {run.requests:,} of {run.planned or 0:,} writes in "
                f"{run.seconds:.1f} s = {run.rps:,.0f} req/s, p50 {run.p50_ms:.1f} ms, "
                f"p99 {run.p99_ms:.1f} ms, errors {run.non2xx}/{run.socket_errors}/"
                f"{run.timeouts}; check {verdict}: {check.text}"
                + (f"; not 2xx: {run.failures}" if run.failures else "")
            )
            if run.non2xx and server_log is not None:
                self.console.print(_log_errors(server_log))
            if run.requests < count:
                result.failure = (
                    f"the {step} burst got {run.requests:,} of {count:,} answers within {bound} s"
                )
                self.console.print(f"[red]{name}: {result.failure}[/red]")
                return

    def _recheck(
        self,
        base: str,
        requests: Callable[[], list[tuple[str, str | None]]],
        first: Exception,
        result: ConfigResult,
        name: str,
    ) -> int | None:
        from app.bench.wrk import BenchError

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(2)
            try:
                return _check_all(base, requests())
            except BenchError:
                continue
        result.failure = f"stopped answering 200 after load: {first}"
        self.console.print(f"[red]{name}: {result.failure}[/red]")
        return None


def _log_errors(path: Path, most: int = 3) -> str:
    """Why writes failed, from the server's log: its error lines' message and exception (the
    last line of the traceback), the most frequent first."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    seen: dict[str, int] = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("level") != "error":
            continue
        cause = (str(entry.get("exc") or "").strip().splitlines() or [""])[-1]
        message = re.sub(r"/\d+", "/{id}", str(entry.get("msg")))
        key = f"{message}: {cause[:300]}"
        seen[key] = seen.get(key, 0) + 1
    if not seen:
        return "  (no error in the server log)"
    ranked = sorted(seen.items(), key=lambda item: -item[1])[:most]
    return "\n".join(f"  server log ({n}×): {key}" for key, n in ranked)


def _ping() -> list[tuple[str, str | None]]:
    return [("/ping", None)]


def _pair(
    runner: Runner,
    results: list[ConfigResult],
    base: str,
    probe: CpuProbe,
    key: str,
    label: str,
) -> None:
    """The 2-worker ceiling measured again just before the judged run of `key`
    (`Report.ceiling_for` judges that run against it)."""
    from app.bench.report import BAR_CONNS, BAR_WORKERS, CEILING, ConfigResult

    paired = ConfigResult(
        CEILING, f"ceiling (before {label})", "/ping", None, BAR_WORKERS, BAR_CONNS, 0
    )
    paired.paired = key
    results.append(paired)
    runner.measure(paired, base, _ping, probe)


def _ceiling_server(workers: int, env: dict[str, str], workdir: Path) -> tuple[Server, str]:
    from app.bench.servers import Server, free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(
        f"ceiling (w{workers})",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.bench.ceiling:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--no-server-header",  # as `handbook api` serves
        ],
        env=env,
        cwd=workdir,
        ready_url=f"{base}/ping",
        log_path=workdir / f"ceiling-w{workers}.log",
    )
    return server, base


def _product_server(workers: int, env: dict[str, str], workdir: Path) -> tuple[Server, str]:
    from app.bench.servers import Server, free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    product_env = dict(env)
    if workers > 1:
        metrics_dir = workdir / f"metrics-w{workers}"
        metrics_dir.mkdir(exist_ok=True)
        product_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    server = Server(
        f"handbook api (w{workers})",
        [
            *_handbook_argv(),
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=product_env,
        cwd=workdir,
        ready_url=f"{base}/readyz",
        log_path=workdir / f"api-w{workers}.log",
    )
    return server, base


def _targets(
    url: str, parts: list[Part], console: Console, variants: int
) -> tuple[list[Target], dict[str, Any]]:
    """The reads of the selected parts (and the baselines the logins part needs), with their
    persona picks and a session each."""
    from app.bench import dataset as ds
    from app.bench.parts import PERSONAS, all_reads

    registry = all_reads()
    wanted: dict[str, tuple[Part, Read]] = {}
    for part in parts:
        for read in part.reads:
            wanted[read.key] = (part, read)
        for key in part.beside_logins:
            wanted.setdefault(key, registry[key])
    persona_keys = sorted({read.persona for _part, read in wanted.values()})
    picks = asyncio.run(ds.pick_personas(url, persona_keys, variants))
    members = [p.member_id for key in persona_keys for p in picks[key]]
    sessions = asyncio.run(ds.open_sessions(url, members))
    if any(read.key == "my_notifications" for _part, read in wanted.values()):
        inbox = [p.member_id for p in picks["plain_member"]]
        written = asyncio.run(ds.fill_inboxes(url, inbox))
        if written:
            console.print(f"filled {len(inbox)} inboxes ({written} notifications)")
    targets = []
    for part, read in wanted.values():
        chosen = picks[read.persona]
        targets.append(
            Target(
                part.name,
                read,
                tuple((read.url_path(p), p.member_id, sessions[p.member_id]) for p in chosen),
                f"{len(chosen)} × {PERSONAS[read.persona].description}",
            )
        )
    personas = {
        key: {
            "as": PERSONAS[key].description,
            "picks": [
                {"member_id": p.member_id, "org_id": p.org_id, "note": p.note} for p in picks[key]
            ],
        }
        for key in persona_keys
    }
    return targets, personas


def _run(
    plan: Plan,
    *,
    members: int,
    reset: bool,
    quick: bool,
    part_names: list[str] | None,
    output_dir: Path,
    console: Console,
    out: Console,
    argv: list[str],
    options: dict[str, Any] | None = None,
) -> None:
    from app.bench import dataset as ds
    from app.bench.cpu import CpuProbe
    from app.bench.logins import LoginLoad
    from app.bench.parts import LOGINS_PER_S, Measure, select_parts
    from app.bench.report import (
        BAR_CONNS,
        BAR_WORKERS,
        CEILING,
        NOISY_HOST_PCT,
        ConfigResult,
        Report,
        code_version,
        machine_info,
        merge_latest,
        render_readme,
    )
    from app.bench.wrk import BenchError, wrk_version

    try:
        parts = select_parts(part_names)
    except ValueError as exc:
        raise BenchError(str(exc)) from exc
    measured = [p for p in parts if p.measure is not None]
    parts = [p for p in parts if p.measure is None]  # the reads, measured by wrk
    started = time.monotonic()
    date = datetime.now(UTC).replace(microsecond=0).isoformat()
    wrk = wrk_version() if parts else "not used"
    code = code_version(PROJECT_ROOT)
    source_before = _source_stamp()
    machine_load = os.getloadavg()
    console.print(f"bench database {ds.safe_url(plan.database_url)}")
    console.print(asyncio.run(ds.ensure_database(plan.database_url, reset=reset)))
    ds.migrate(plan.database_url)
    console.print(f"migrated; preparing a province of {members:,} members…")
    # The stats part reads the statistics rollup: built now if the province has none.
    rollup = any(p.name == "stats" for p in parts)
    data = asyncio.run(
        ds.prepare(plan.database_url, members=members, progress=console.print, rollup=rollup)
    )
    if data.seeded_now:
        console.print(f"seeded in {data.seed_seconds:.1f} s")
    else:
        console.print("reusing the province already in the database")
    if data.rollup_seconds is not None:
        console.print(f"statistics rollup built in {data.rollup_seconds:.1f} s")
    console.print(f"{data.members:,} members, {data.branches:,} branches, {data.orgs:,} orgs")
    targets, personas = (
        _targets(plan.database_url, parts, console, plan.variants) if parts else ([], {})
    )
    bursts = [(part, burst, burst.kind()) for part in parts for burst in part.bursts]
    if bursts:
        removed = sum(asyncio.run(ds.burst_cleanup(plan.database_url, k)) for _p, _b, k in bursts)
        if removed:
            console.print(f"removed {removed} objects left by an earlier run's bursts")
    logins_part = next((p for p in parts if p.beside_logins), None)
    login_phones: list[str] = []
    if logins_part is not None:
        needed = int(LOGINS_PER_S * (plan.warmup_s + plan.runs * plan.duration_s) * 1.2) + 10
        needed *= len(logins_part.beside_logins)
        login_phones = asyncio.run(ds.login_pool(plan.database_url, needed))
        console.print(f"login pool: {len(login_phones):,} members with a password")
    database = ds.database_url(plan.database_url).database or ""
    busy_before = _host_busy_pct(2.0)
    if busy_before > NOISY_HOST_PCT:
        console.print(
            f"[yellow]warning: the host is {busy_before:.0f}% busy before any load: "
            "something else is running, the figures will be noisy[/yellow]"
        )
    secret = secrets.token_urlsafe(36)  # 48 characters
    minter = ds.TokenMinter(secret)
    results: list[ConfigResult] = []
    try:
        with tempfile.TemporaryDirectory(prefix="handbook-bench-") as tmp:
            workdir = Path(tmp)
            runner = Runner(plan, console, workdir)
            env = _server_env(plan.database_url, secret, workdir / "data")
            for workers in (1, 2) if parts else ():
                with contextlib.ExitStack() as servers:
                    console.rule(f"ceiling, {workers} worker(s)")
                    ceiling, ceiling_base = _ceiling_server(workers, env, workdir)
                    servers.enter_context(ceiling)
                    ceiling_probe = CpuProbe(ceiling.cpu_ticks, None, ceiling.worker_ticks)
                    result = ConfigResult(CEILING, "ceiling", "/ping", None, workers, 64, 0)
                    results.append(result)
                    runner.measure(result, ceiling_base, _ping, ceiling_probe)
                    if not targets and not (workers == 2 and (bursts or logins_part)):
                        continue  # nothing to measure on the product at this worker count
                    # The judged count keeps it up: a ceiling run just before each judged
                    # product run (`Report.ceiling_for`), as the host's speed drifts in a run.
                    pair = None
                    if workers == BAR_WORKERS:
                        pair = partial(_pair, runner, results, ceiling_base, ceiling_probe)
                    else:
                        servers.close()
                    console.rule(f"product, {workers} worker(s)")
                    product, base = _product_server(workers, env, workdir)
                    servers.enter_context(product)
                    probe = CpuProbe(product.cpu_ticks, database, product.worker_ticks)
                    conns_list = (64, 256) if workers == 1 else (64,)
                    for conns in conns_list:
                        for target in targets:
                            result = ConfigResult(
                                target.read.key,
                                target.read.label,
                                target.read.path,
                                target.personas,
                                workers,
                                conns,
                                0,
                                part=target.part,
                                bar=target.read.bar,
                                p99_bar_ms=target.read.p99_bar_ms,
                                variants=len(target.variants),
                            )
                            if pair is not None and conns == BAR_CONNS:
                                pair(target.read.key, target.read.label)
                            results.append(result)
                            runner.measure(result, base, partial(target.requests, minter), probe)
                    if workers == 2 and logins_part is not None:
                        by_key = {t.read.key: t for t in targets}
                        for offset, key in enumerate(logins_part.beside_logins):
                            target = by_key[key]
                            # The read alone just before: the baseline it must keep 80% of.
                            alone = ConfigResult(
                                f"{key}+alone",
                                f"{target.read.label} (alone, before logins)",
                                target.read.path,
                                target.personas,
                                workers,
                                64,
                                0,
                                part=logins_part.name,
                                kind="baseline",
                                variants=len(target.variants),
                            )
                            results.append(alone)
                            runner.measure(alone, base, partial(target.requests, minter), probe)
                            result = ConfigResult(
                                f"{key}+logins",
                                f"{target.read.label} + logins",
                                target.read.path,
                                target.personas,
                                workers,
                                64,
                                0,
                                part=logins_part.name,
                                baseline=alone.target,
                                variants=len(target.variants),
                            )
                            results.append(result)
                            share = len(login_phones) // len(logins_part.beside_logins)
                            phones = login_phones[offset * share : (offset + 1) * share]
                            load = LoginLoad(base, phones, ds.LOGIN_PASSWORD, rate=LOGINS_PER_S)
                            with load:
                                runner.measure(
                                    result, base, partial(target.requests, minter), probe
                                )
                            result.logins = load.stats.summary()
                            console.print(f"  logins beside {target.read.label}: {result.logins}")
                    if workers == 2:
                        for part, burst, kind in bursts:
                            result = ConfigResult(
                                burst.key,
                                burst.label,
                                burst.path,
                                None,
                                workers,
                                64,
                                0,
                                part=part.name,
                                bar=burst.bar,
                                kind="burst",
                                check_label=burst.check,
                            )
                            if pair is not None:
                                pair(burst.key, burst.label)
                            results.append(result)
                            runner.burst(result, base, burst, kind, minter, probe, product.log_path)
    finally:
        for _part, _burst, kind in bursts:
            asyncio.run(ds.burst_cleanup(plan.database_url, kind))
        asyncio.run(ds.close_sessions(plan.database_url))

    sections: dict[str, dict[str, Any]] = {}
    for part in measured:
        assert part.measure is not None  # noqa: S101 - selected for it
        console.rule(f"part {part.name}")
        sections[part.name] = part.measure(
            Measure(
                database_url=plan.database_url,
                members=data.members,
                settings={"date": date, "command": shlex.join(argv), "quick": quick},
                code=code,
                machine={
                    **machine_info(wrk=wrk, postgresql=data.postgresql),
                    "host_busy_pct_before_load": round(_host_busy_pct(2.0), 1),
                },
                log=console.print,
                options=options or {},
            )
        )

    report = Report(
        settings={
            "date": date,
            "command": shlex.join(argv),
            "quick": quick,
            "parts": [p.name for p in parts + measured],
            "runs": plan.runs,
            "duration_s": plan.duration_s,
            "warmup_s": plan.warmup_s,
            "burst_size": plan.burst_size if bursts else None,
            "database": ds.safe_url(plan.database_url),
            "server_env": {
                "ENV": "prod",
                "LOG__ACCESS": "off",
                "SMS__GATEWAY": "http",
                "AUTH__ACCESS_TTL_S": "900",
                "AUTH__LOGIN_ATTEMPTS_PER_IP_PER_HOUR": LOGIN_LIMIT,
            },
        },
        machine={**machine_info(wrk=wrk, postgresql=data.postgresql)},
        dataset={
            "members_requested": members,
            "orgs": data.orgs,
            "branches": data.branches,
            "members": data.members,
            "role_grants": data.grants,
            "seeded_this_run": data.seeded_now,
            "seed_seconds": None if data.seed_seconds is None else round(data.seed_seconds, 1),
            "rollup_seconds": (
                None if data.rollup_seconds is None else round(data.rollup_seconds, 1)
            ),
            "root": {"id": data.root_id, "path": data.root_path},
            "personas": personas,
        },
        results=results,
        code=code,
    )
    report.machine["load_average_at_start"] = [round(v, 2) for v in machine_load]
    report.machine["host_busy_pct_before_load"] = round(busy_before, 1)
    code["changed_during_run"] = _source_stamp() != source_before
    if code["changed_during_run"]:
        console.print(
            "[yellow]warning: app code changed during the run: the servers measured did not "
            "all run the same code[/yellow]"
        )
    report.wall_time_s = time.monotonic() - started
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path = output_dir / "latest.json"
    previous = None
    if json_path.exists():
        try:
            previous = json.loads(json_path.read_text(encoding="utf-8"))
        except ValueError:
            previous = None
    merged = merge_latest(previous, report, [p.name for p in parts], measured=sections)
    json_path.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (output_dir / "README.md").write_text(render_readme(report, merged), encoding="utf-8")
    if parts:
        report.print(out)
    passed = all(merged["parts"][p.name].get("pass") for p in parts + measured)
    verdict = "[green]PASS[/green]" if passed else "[red]FAIL[/red]"
    out.print(f"Overall: {verdict}. Wrote {json_path} and README.md in {report.wall_time_s:.0f} s.")


def _stop_on_sigterm() -> None:
    """SIGTERM (`kill`, `timeout`) unwinds like Ctrl-C, so the servers the run started (each a
    context manager) are stopped rather than left serving on their ports."""

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)


def bench(
    database_url: Annotated[
        str,
        typer.Option(help="PostgreSQL database for the benchmark (created if missing)."),
    ] = DEFAULT_DATABASE_URL,
    members: Annotated[
        int,
        typer.Option(
            help="Size of the generated province (default: Hà Nội's, 476,000).",
            min=1_000,
            max=2_000_000,
        ),
    ] = 476_000,
    reset: Annotated[bool, typer.Option(help="Drop and rebuild the bench database first.")] = False,
    duration: Annotated[
        int, typer.Option(help="Seconds of each measured run.", min=1, max=600)
    ] = 15,
    runs: Annotated[int, typer.Option(help="Measured runs (median reported).", min=1, max=9)] = 3,
    warmup: Annotated[int, typer.Option(help="Seconds of warm-up, not recorded.", min=1)] = 3,
    quick: Annotated[
        bool, typer.Option(help="Smoke test: 1 run of 5 s after 2 s of warm-up.")
    ] = False,
    output_dir: Annotated[
        Path, typer.Option(help="Where latest.json and README.md are written.")
    ] = DEFAULT_OUTPUT,
    part: Annotated[
        list[str] | None,
        typer.Option(
            help="Run only this part (repeatable; app/bench/parts.py lists them). Other parts' "
            "sections of latest.json are kept."
        ),
    ] = None,
    variants: Annotated[
        int, typer.Option(help="Persona picks (request variants) per read.", min=1, max=64)
    ] = 8,
    import_rows: Annotated[
        int, typer.Option(help="Data rows in the import part's generated file.", min=10)
    ] = 50_000,
    burst_size: Annotated[
        int,
        typer.Option(
            help="Writes in each measured burst (the warm-up burst is a quarter of it); each "
            "burst takes members not used by the run's earlier bursts.",
            min=10,
            max=100_000,
        ),
    ] = BURST_SIZE,
) -> None:
    """Measure the ceiling and the authenticated reads; write docs/benchmarks/ (always exits 0
    once measured, even when a bar fails)."""
    from app.bench.wrk import BenchError

    _stop_on_sigterm()
    if quick:
        duration, runs, warmup = 5, 1, 2
    console = Console(stderr=True, soft_wrap=True)
    out = Console()
    if not out.is_terminal:  # a file or a pipe: do not squeeze the table into 80 columns
        out = Console(width=180)
    plan = Plan(
        database_url=database_url,
        duration_s=duration,
        runs=runs,
        warmup_s=warmup,
        variants=variants,
        burst_size=burst_size,
    )
    try:
        _run(
            plan,
            members=members,
            reset=reset,
            quick=quick,
            part_names=part,
            output_dir=output_dir,
            console=console,
            out=out,
            argv=["handbook", *sys.argv[1:]],
            options={"import_rows": import_rows},
        )
    except BenchError as exc:
        console.print(f"[red]bench failed:[/red] {exc}")
        raise typer.Exit(1) from exc
