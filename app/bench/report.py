"""Figures, ratios to the ceiling, the bar checks of DESIGN.md §5, and the written report.

Per configuration: req/s, p50 and p99 are the median of the measured runs (like
shared/bench/run.sh); max latency is the worst of the runs; errors (non-2xx, socket errors,
timeouts) are summed over every run, warm-up included, since every response must be a 200.
Each figure is divided by the ceiling's with the same worker count.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from app.bench.cpu import IMBALANCED_WORKER_PCT, MAX_ATTEMPTS, NOISY_OTHER_PCT
from app.bench.parts import AIM, LOGINS_KEEP, LOGINS_PER_S
from app.bench.wrk import WRK_THREADS, WRK_TIMEOUT_S, WrkRun

CEILING = "ceiling"
# DESIGN.md §5: reads at 64 connections, judged on the 2-worker run.
BAR_P99_MS = 100.0
BAR_P99_REFERENCE_RPS = 15_900.0  # the 2-worker ceiling on the day the p99 bar was set
BAR_CONNS = 64
BAR_WORKERS = 2
STALL_CONNS = 256
STALL_WORKERS = 1
NOISY_HOST_PCT = 15.0  # host CPU busy before any load above which a run is flagged as noisy
PACKAGES = (
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "asyncpg",
    "orjson",
    "python-jose",
)


@dataclass
class ConfigResult:
    """One target at one worker count and connection count."""

    target: str  # CEILING or a product endpoint key
    label: str
    path: str
    persona: str | None
    workers: int
    conns: int
    response_bytes: int
    warmup: WrkRun | None = None
    runs: list[WrkRun] = field(default_factory=list)
    failure: str | None = None  # why measuring stopped early (e.g. the URL stopped answering 200)
    part: str = CEILING
    bar: float | None = None  # share of the 2-worker ceiling required (DESIGN.md §5)
    # A heavy read's p99 bar (root statistics: 150 ms), scaled like the others; None: BAR_P99_MS.
    p99_bar_ms: float | None = None
    variants: int = 1  # request variants (persona picks) sent in turn
    baseline: str | None = None  # the read measured alone, for a read measured beside logins
    logins: dict[str, Any] | None = None  # what the logins beside it did
    # "read", "burst" (a write burst, `parts.Burst`) or "baseline" (a read measured alone just
    # before it is measured beside logins: that run's baseline, judged with it)
    kind: str = "read"
    check_label: str | None = None  # a burst: what its database check asserts
    checks: list[dict[str, Any]] = field(default_factory=list)  # a burst's check, per burst
    # A ceiling measured just before the product target of this key (the judged configuration:
    # 2 workers, 64 connections), which that target's ratios and bars are judged against.
    paired: str | None = None

    @property
    def is_burst(self) -> bool:
        return self.kind == "burst"

    @property
    def checks_passed(self) -> bool:
        return bool(self.checks) and all(c.get("passed") for c in self.checks)

    @property
    def unanswered(self) -> int:
        """A burst's writes that got no answer (sent once each: every one must be answered)."""
        return sum(
            max(0, (r.planned or 0) - r.requests) for r in self.all_runs() if r.planned is not None
        )

    def median(self, pick: Callable[[WrkRun], float | None]) -> float | None:
        values = [v for v in (pick(r) for r in self.runs) if v is not None]
        return statistics.median(values) if values else None

    @property
    def rps(self) -> float:
        return self.median(lambda r: r.rps) or 0.0

    @property
    def p50_ms(self) -> float:
        return self.median(lambda r: r.p50_ms) or 0.0

    @property
    def p99_ms(self) -> float:
        return self.median(lambda r: r.p99_ms) or 0.0

    @property
    def max_ms(self) -> float:
        return max((r.max_ms for r in self.runs), default=0.0)

    @property
    def cpu_ms_per_req(self) -> float | None:
        return self.median(lambda r: r.server_cpu_ms_per_req)

    @property
    def postgres_cpu_ms_per_req(self) -> float | None:
        return self.median(lambda r: r.postgres_cpu_ms_per_req)

    @property
    def host_busy_pct(self) -> float | None:
        return self.median(lambda r: r.host_busy_pct)

    @property
    def other_cpu_pct(self) -> float | None:
        """The worst share of the host that other work took during a measured run."""
        values = [r.other_cpu_pct for r in self.runs if r.other_cpu_pct is not None]
        return max(values) if values else None

    @property
    def noisy(self) -> bool:
        other = self.other_cpu_pct
        return other is not None and other > NOISY_OTHER_PCT

    def all_runs(self) -> list[WrkRun]:
        return ([self.warmup] if self.warmup else []) + self.runs

    @property
    def non2xx(self) -> int:
        return sum(r.non2xx for r in self.all_runs())

    @property
    def socket_errors(self) -> int:
        return sum(r.socket_errors for r in self.all_runs())

    @property
    def timeouts(self) -> int:
        return sum(r.timeouts for r in self.all_runs())

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors + self.timeouts

    @property
    def clean(self) -> bool:
        """Every response was a 200 (a burst: 2xx, every write answered) and measuring went to
        the end."""
        return (
            self.failure is None and self.errors == 0 and self.requests > 0 and self.unanswered == 0
        )

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.runs)

    def summary(self) -> dict[str, Any]:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "max_ms": round(self.max_ms, 2),
            "server_cpu_ms_per_req": _round(self.cpu_ms_per_req, 3),
            "postgres_cpu_ms_per_req": _round(self.postgres_cpu_ms_per_req, 3),
            "host_busy_pct": _round(self.host_busy_pct, 0),
            "other_cpu_pct_max": _round(self.other_cpu_pct, 1),
            "noisy": self.noisy,
            "requests": self.requests,
            "non2xx": self.non2xx,
            "socket_errors": self.socket_errors,
            "timeouts": self.timeouts,
            "failure": self.failure,
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Bar:
    name: str
    target: str
    measured: str
    threshold: str
    passed: bool


@dataclass
class Report:
    settings: dict[str, Any]
    machine: dict[str, Any]
    dataset: dict[str, Any]
    results: list[ConfigResult]
    code: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0

    def ceiling(self, workers: int) -> ConfigResult | None:
        """The ceiling measured before the product at this worker count."""
        for result in self.results:
            if result.target == CEILING and result.workers == workers and result.paired is None:
                return result
        return None

    def ceiling_for(self, result: ConfigResult) -> ConfigResult | None:
        """What `result` is judged against: the ceiling measured just before it where there is
        one (the host's speed drifts within a run: the same code's CPU per request was seen 28%
        apart minutes apart, with the ceiling measured once at the start), else the ceiling of
        its worker count."""
        if result.target != CEILING:
            for other in self.results:
                if (
                    other.target == CEILING
                    and other.paired == result.target
                    and other.workers == result.workers
                    and other.runs
                ):
                    return other
        return self.ceiling(result.workers)

    def ratios(self, result: ConfigResult) -> dict[str, float | None]:
        ceiling = self.ceiling_for(result)
        if ceiling is None:
            return {"rps": None, "p50": None, "p99": None, "server_cpu": None}

        def ratio(ours: float | None, theirs: float | None) -> float | None:
            return None if ours is None or not theirs else round(ours / theirs, 4)

        return {
            "rps": ratio(result.rps, ceiling.rps),
            "p50": ratio(result.p50_ms, ceiling.p50_ms),
            "p99": ratio(result.p99_ms, ceiling.p99_ms),
            "server_cpu": ratio(result.cpu_ms_per_req, ceiling.cpu_ms_per_req),
        }

    def p99_limit_ms(self, result: ConfigResult | None = None) -> float | None:
        """The p99 bar scaled by the 2-worker ceiling (`result`'s own, `ceiling_for`)."""
        ceiling = self.ceiling(BAR_WORKERS) if result is None else self.ceiling_for(result)
        if ceiling is None or ceiling.rps <= 0:
            return None
        return BAR_P99_MS * BAR_P99_REFERENCE_RPS / ceiling.rps

    def result(self, target: str, workers: int, conns: int) -> ConfigResult | None:
        for result in self.results:
            if (result.target, result.workers, result.conns) == (target, workers, conns):
                return result
        return None

    def bars(self, part: str | None = None) -> list[Bar]:
        bars: list[Bar] = []
        mine = [r for r in self.results if r.target != CEILING and part in (None, r.part)]
        for result in mine:
            ceiling = self.ceiling_for(result)
            limit = self.p99_limit_ms(result)
            if result.workers != BAR_WORKERS or result.conns != BAR_CONNS or not ceiling:
                continue
            if result.baseline is not None:
                bars += self._logins_bars(result)
                continue
            if result.kind == "baseline":
                continue  # judged with the run beside logins that names it
            if result.is_burst:
                bars += self._burst_bars(result, ceiling)
                continue
            if result.bar is not None:
                share = result.rps / ceiling.rps if ceiling.rps else 0.0
                bars.append(
                    Bar(
                        f"req/s ≥ {result.bar:.0%} of the {BAR_WORKERS}-worker ceiling",
                        result.target,
                        f"{share:.1%} ({result.rps:,.0f} of {ceiling.rps:,.0f})",
                        f"≥ {result.bar:.0%}",
                        share >= result.bar,
                    )
                )
            if limit is not None:
                bar_ms = result.p99_bar_ms or BAR_P99_MS
                scaled = limit * bar_ms / BAR_P99_MS
                bars.append(
                    Bar(
                        f"p99 ≤ {bar_ms:.0f} ms × {BAR_P99_REFERENCE_RPS:,.0f} ÷ ceiling req/s",
                        result.target,
                        f"{result.p99_ms:.1f} ms",
                        f"≤ {scaled:.1f} ms",
                        result.p99_ms <= scaled,
                    )
                )
            bars.append(
                Bar(
                    f"every response 200 ({BAR_WORKERS} workers, {BAR_CONNS} conns)",
                    result.target,
                    _errors_text(result),
                    "0 errors",
                    result.clean,
                )
            )
        for result in mine:
            if result.workers == STALL_WORKERS and result.conns == STALL_CONNS:
                bars.append(
                    Bar(
                        f"no stall ({STALL_WORKERS} worker, {STALL_CONNS} conns)",
                        result.target,
                        f"{result.rps:,.0f} req/s; {_errors_text(result)}",
                        "0 timeouts, 0 non-2xx, 0 socket errors",
                        result.clean,
                    )
                )
        return bars

    def _burst_bars(self, result: ConfigResult, ceiling: ConfigResult) -> list[Bar]:
        share = result.rps / ceiling.rps if ceiling.rps else 0.0
        bar = result.bar or 0.0
        failed = [c for c in result.checks if not c.get("passed")]
        checked = (
            f"{len(result.checks)} bursts, all as expected"
            if result.checks and not failed
            else "; ".join(f"{c.get('step')}: {c.get('text')}" for c in failed) or "not checked"
        )
        return [
            Bar(
                f"req/s ≥ {bar:.0%} of the {BAR_WORKERS}-worker ceiling",
                result.target,
                f"{share:.1%} ({result.rps:,.0f} of {ceiling.rps:,.0f})",
                f"≥ {bar:.0%}",
                share >= bar,
            ),
            Bar(
                "zero errors: every write answered 2xx",
                result.target,
                _errors_text(result)
                + (f", {result.unanswered} unanswered" if result.unanswered else "")
                + "".join(f" ({r.failures})" for r in result.all_runs() if r.failures),
                "0 errors",
                result.clean,
            ),
            Bar(
                result.check_label or "one row per member",
                result.target,
                checked,
                "every burst",
                result.checks_passed,
            ),
        ]

    def _logins_bars(self, result: ConfigResult) -> list[Bar]:
        assert result.baseline is not None  # noqa: S101 - only called for logins results
        base = self.result(result.baseline, result.workers, result.conns)
        logins = result.logins or {}
        keep = result.rps / base.rps if base and base.rps else 0.0
        rate = float(logins.get("rate_per_s") or 0.0)
        return [
            Bar(
                f"reads keep ≥ {LOGINS_KEEP:.0%} of their baseline beside "
                f"{LOGINS_PER_S:g} logins/s",
                result.target,
                f"{keep:.1%} ({result.rps:,.0f} of {base.rps if base else 0:,.0f})",
                f"≥ {LOGINS_KEEP:.0%}",
                keep >= LOGINS_KEEP,
            ),
            Bar(
                "logins answered 200 at the rate asked",
                result.target,
                f"{logins.get('ok', 0)} of {logins.get('sent', 0)} at {rate:.1f}/s, "
                f"p99 {logins.get('p99_ms')} ms",
                f"all 200, ≥ {0.9 * LOGINS_PER_S:g}/s",
                bool(logins) and logins.get("failed") == 0 and rate >= 0.9 * LOGINS_PER_S,
            ),
            Bar(
                f"every read 200 beside logins ({BAR_WORKERS} workers)",
                result.target,
                _errors_text(result),
                "0 errors",
                result.clean,
            ),
        ]

    def to_json(self, part: str | None = None) -> dict[str, Any]:
        """The run as JSON; with `part`, that part's section (its results and the ceilings)."""
        bars = self.bars(part)
        targets = {r.target for r in self.results if part in (None, r.part)}
        results = [
            r
            for r in self.results
            if part in (None, r.part)
            or (r.target == CEILING and (r.paired is None or r.paired in targets))
        ]
        return {
            "schema": 2,
            "generated_by": "handbook bench",
            "part": part,
            "settings": self.settings,
            "code": self.code,
            "machine": self.machine,
            "dataset": self.dataset,
            "ceiling_rps": {
                str(w): round(c.rps, 1) for w in (1, 2) if (c := self.ceiling(w)) is not None
            },
            "p99_limit_ms": _round(self.p99_limit_ms(), 2),
            "results": [
                {
                    "target": r.target,
                    "part": r.part,
                    "label": r.label,
                    "path": r.path,
                    "persona": r.persona,
                    "variants": r.variants,
                    "workers": r.workers,
                    "conns": r.conns,
                    "response_bytes": r.response_bytes,
                    **r.summary(),
                    "bar": r.bar,
                    "aim": (
                        None
                        if r.target == CEILING or r.baseline or r.is_burst or r.kind == "baseline"
                        else AIM
                    ),
                    "kind": r.kind,
                    "checks": r.checks or None,
                    "baseline": r.baseline,
                    "logins": r.logins,
                    "paired_with": r.paired,
                    "ratio_to_ceiling": self.ratios(r),
                    "judged_against_ceiling_rps": (
                        round(c.rps, 1)
                        if r.target != CEILING and (c := self.ceiling_for(r)) is not None
                        else None
                    ),
                    "warmup": asdict(r.warmup) if r.warmup else None,
                    "runs": [asdict(run) for run in r.runs],
                }
                for r in results
            ],
            "bars": [asdict(b) for b in bars],
            "pass": all(b.passed for b in bars) if bars else False,
            "noisy": any(r.noisy for r in results),
            "wall_time_s": round(self.wall_time_s, 1),
        }

    # -- rendering ---------------------------------------------------------------------------

    def rows(self) -> list[list[str]]:
        rows = []
        for r in self.results:
            ratios = self.ratios(r)
            is_ceiling = r.target == CEILING
            rows.append(
                [
                    f"{r.label} (stopped early)" if r.failure else r.label,
                    str(r.workers),
                    str(r.conns),
                    f"{r.rps:,.0f}",
                    "100%" if is_ceiling else _pct(ratios["rps"]),
                    _aim(r, ratios["rps"]),
                    f"{r.p50_ms:.1f}",
                    f"{r.p99_ms:.1f}",
                    "1×" if is_ceiling else _times(ratios["p99"]),
                    f"{r.max_ms:.0f}",
                    _ms(r.cpu_ms_per_req),
                    "1×" if is_ceiling else _times(ratios["server_cpu"]),
                    _ms(r.postgres_cpu_ms_per_req),
                    f"{r.non2xx}/{r.socket_errors}/{r.timeouts}",
                    _other(r),
                ]
            )
        return rows

    HEADERS = (
        "target",
        "workers",
        "conns",
        "req/s",
        "% ceiling",
        "bar / aim 30%",
        "p50 ms",
        "p99 ms",
        "p99 × ceiling",
        "max ms",
        "server CPU ms/req",
        "× ceiling",
        "PG CPU ms/req",
        "non-2xx/sock/timeouts",
        "other work",
    )

    def print(self, console: Console) -> None:
        table = Table(title="handbook bench: figures and ratios to the ceiling (same workers)")
        for header in self.HEADERS:
            table.add_column(header, justify="left" if header == "target" else "right")
        for row in self.rows():
            table.add_row(*row)
        console.print(table)
        bars = Table(title="Bars (DESIGN.md §5)")
        for header in ("bar", "target", "measured", "threshold", "result"):
            bars.add_column(header)
        for bar in self.bars():
            verdict = "[green]PASS[/green]" if bar.passed else "[red]FAIL[/red]"
            bars.add_row(bar.name, bar.target, bar.measured, bar.threshold, verdict)
        console.print(bars)
        noisy = [f"{r.label} w{r.workers} c{r.conns}" for r in self.results if r.noisy]
        if noisy:
            console.print(
                f"[yellow]Noisy (other work took > {NOISY_OTHER_PCT:.0f}% of the host): "
                + ", ".join(noisy)
                + ". Re-run on a quiet machine.[/yellow]"
            )

    def markdown_table(self) -> str:
        lines = [
            "| " + " | ".join(self.HEADERS) + " |",
            "|" + "|".join("---" if h == "target" else "---:" for h in self.HEADERS) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows()]
        return "\n".join(lines)

    def markdown_bars(self) -> str:
        lines = ["| bar | target | measured | threshold | result |", "|---|---|---|---|---|"]
        for bar in self.bars():
            result = "PASS" if bar.passed else "**FAIL**"
            lines.append(
                f"| {bar.name} | {bar.target} | {bar.measured} | {bar.threshold} | {result} |"
            )
        return "\n".join(lines)


def _errors_text(result: ConfigResult) -> str:
    text = (
        f"{result.non2xx} non-2xx, {result.socket_errors} socket errors, {result.timeouts} timeouts"
    )
    return f"{text}; stopped: {result.failure}" if result.failure else text


def _code_text(code: dict[str, Any]) -> str:
    text = (code.get("commit") or "unknown")[:10]
    if code.get("dirty"):
        text += " with uncommitted changes"
    if code.get("changed_during_run"):
        text += " (edited during the run: mixed code)"
    return text


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _other(result: ConfigResult) -> str:
    other = result.other_cpu_pct
    if other is None:
        return "–"
    return f"{other:.0f}% (noisy)" if result.noisy else f"{other:.0f}%"


def _aim(result: ConfigResult, share: float | None) -> str:
    """The read's bar and how far it is from the 30% aim (in points of the ceiling)."""
    if result.target == CEILING or share is None:
        return "–"
    if result.baseline is not None:
        return "beside logins"
    if result.kind == "baseline":
        return "before logins"
    bar = f"{result.bar:.0%}" if result.bar is not None else "–"
    if result.is_burst:
        return f"{bar} (burst)"
    gap = AIM - share
    return f"{bar} / {'reached' if gap <= 0 else f'{gap * 100:.1f} pts short'}"


def merge_latest(
    previous: dict[str, Any] | None,
    report: Report,
    parts: list[str],
    *,
    measured: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """latest.json with this run's parts replaced and every other part's section kept; the
    sections of measured parts (the import) come as they are."""
    sections: dict[str, Any] = {}
    if previous and previous.get("schema") == 2 and isinstance(previous.get("parts"), dict):
        sections.update(previous["parts"])
    for name in parts:
        sections[name] = report.to_json(name)
    sections.update(measured or {})
    return {
        "schema": 2,
        "generated_by": "handbook bench",
        "updated": report.settings.get("date"),
        "pass": all(section.get("pass") for section in sections.values()),
        "parts": sections,
    }


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}×"


def code_version(root: Path) -> dict[str, Any]:
    """The commit measured, and whether the working tree had uncommitted changes to the app."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.rstrip("\n") if done.returncode == 0 else None

    changed = git("status", "--porcelain", "--", "app", "migrations", "pyproject.toml", "uv.lock")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": None if changed is None else bool(changed),
        "changed_files": None if not changed else [line[3:] for line in changed.splitlines()],
    }


def machine_info(*, wrk: str, postgresql: str) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "cpu_model": cpu,
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": memory_gib,
        "kernel": platform.release(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": packages,
        "postgresql": postgresql,
        "wrk": wrk,
        "wrk_threads": WRK_THREADS,
        "wrk_timeout_s": WRK_TIMEOUT_S,
        "load_average_at_start": os.getloadavg(),
    }


README_TEMPLATE = """\
# Benchmarks

Generated by `handbook bench` (code in `app/bench/`); do not edit by hand (the notes at the end
come from [`notes.md`](notes.md)). The raw figures, every measured run, the machine and the
dataset are in [`latest.json`](latest.json): one section per part, each replaced only by a run of
that part.

## How to run

    handbook bench                    # every part, 3 runs of 15 s after a 3 s warm-up (median)
    handbook bench --quick            # smoke: 1 run of 5 s after a 2 s warm-up
    handbook bench --part reads       # one part (repeatable); other parts' sections are kept
    handbook bench --part import      # the member import only (no server; --import-rows N)
    handbook bench --reset            # rebuild the bench database first
    handbook bench --members 50000    # a smaller province (the default is Hà Nội's, 476,000)

Needs `wrk` and a local PostgreSQL (default
`postgresql://postgres@127.0.0.1:5432/handbook_bench`, `--database-url` to change; the database
is created if missing). The first run migrates it and seeds the generated province
(`app/services/province.py`: Hà Nội's 2025 shape, about a minute at 476,000 members); later runs
reuse it. Run nothing else heavy meanwhile: wrk, the server and PostgreSQL share the machine's
cores. The command exits 0 even when a bar fails (it is a measurement); `latest.json` records
`pass`.

## Parts, reads and personas (`app/bench/parts.py`)

{parts}

Each read is sent as {variants} members of its persona, picked across communes and levels (one
per commune/ward where possible), each with a login session of its own: wrk sends the requests
in turn (`BENCH_REQUESTS`), so no single row stays hot.

**Adding an area's hot read** (docs/architecture.md step 13): a `Persona` in `PERSONAS` if none
fits (an SQL pick of members and the ids the path needs), a `Read` (path template, persona, bar)
in a `Part` of `PARTS`, and the area's volume in the generated province (`AREA_SEEDERS` in
`app/services/province.py`, written with `copy_rows`; state the volumes below).

## What is measured

- **Ceiling**: a bare FastAPI endpoint returning a small Pydantic model (`app/bench/ceiling.py`,
  `GET /ping`, 99 bytes), served the same way as the product: uvicorn with the same worker count,
  no access log, uvloop and httptools. Machines differ and are noisy, so every product figure is
  read as a ratio of the ceiling measured in the same run with the same worker count. The host's
  speed also drifts within a run (the same code's CPU per request was seen 28% apart minutes
  apart, with the ceiling measured once at the start), so at 2 workers the ceiling server stays
  up beside the product's and is measured again just before each judged read and burst: each
  one's share, p99 scaling and ratios are against its own ceiling (`judged_against_ceiling_rps`
  and the ceiling's `paired_with` in `latest.json`; the first ceiling is `ceiling_rps`).
- **Product**: `handbook api --workers N` with `ENV=prod`, a random secret, `LOG__ACCESS=off`,
  against the bench database; requests carry bearer tokens minted for real login sessions.
- **Configurations**: 64 connections at 1 and 2 workers (ceiling and product), and 256
  connections at 1 worker (product: must not stall). wrk runs with 1 thread and a
  {wrk_timeout} s timeout; every request variant is checked to answer 200 before every wrk call
  (wrk counts only 4xx/5xx as errors).
- **Balanced workers**: uvicorn's workers share one listening socket and each keeps the
  connections it wins at accept time; wrk opens its connections at once, and now and then one
  worker wins most of them for the whole run, which then measures one worker, not two (seen: the
  2-worker ceiling at 13.7k req/s with the host 64% busy, 23.8k with it 99% busy, minutes apart).
  So every read run at 2 workers (ceiling and product alike) whose busiest worker did more than
  {imbalanced}% of the workers' CPU is run again on new connections, {attempts} times in all at
  most; `busiest_worker_pct` and `attempts` of each run are in `latest.json`. Bursts cannot be
  re-run on the same targets: theirs is recorded only.
- **Write bursts** (`checkin`, `quiz_submit`; `app/bench/bursts.py`): at 2 workers and 64
  connections, a warm-up burst (a quarter of `--burst-size`, default 2,000) and then one burst
  per run, each of distinct members' own writes (their token, body and `Idempotency-Key`), sent
  once each by wrk walking the prepared list (`BENCH_BURST`); req/s is the burst's writes over
  its own duration (wrk is stopped when the last answer arrives), every answer that is not 2xx
  is an error, and after each burst the database is checked: exactly one attendance per member
  who checked in and none for anyone else; every attempt submitted once with exactly one ledger
  entry. A write cannot be repeated on the same rows, so each burst gets fresh targets made just
  before it (meetings started a minute before in branches not yet used, or attempts started on a
  quiz opened for the run) and they are removed when the part ends. Bar: ≥ 5% of the 2-worker
  ceiling, zero errors, the check holding after every burst.
- **Logins beside reads**: at 2 workers and 64 connections, reads are measured alone and then
  again while password logins (`POST /api/v1/auth/password/login`, distinct phones, the per-IP
  limit raised for the run) arrive at 5 per second; the reads must keep ≥ 80% of their req/s
  measured alone just before (the host's speed drifts within a run), and every login must
  answer 200.
- **Member import** (the `import` part, DESIGN.md §5): a generated .xlsx of 50,000 new members
  (`--import-rows`) imported at the province's root as one of its organisation officers, through
  the worker's own handlers, into a file copy of the bench database made for the part and
  dropped after it (the province the reads use is left as it was). The dry run and the apply are
  timed separately (≤ 60 s each, rows/s = rows ÷ seconds, from the job's start to its report
  stored), then the same file is imported again and must change nothing.
- **Figures**: req/s, p50 and p99 are the median of the measured runs; max is the worst run;
  errors (non-2xx / socket errors / timeouts) are summed over all runs including the warm-up.
  Server CPU ms/req is the user+system time of the server process and its workers per request
  (the most portable figure: ~1000 ÷ CPU ms is requests per second per core); PG CPU ms/req is
  the same for the bench database's PostgreSQL backends. "Other work" is the largest share of
  the whole host (all cores) that went to neither the server, wrk nor those backends during a
  measured run: above {noisy}% the configuration is flagged noisy (something else was running).
- **Bars** (DESIGN.md §5), judged on the 2-worker, 64-connection run: req/s ≥ the read's bar
  (15%, `/me/home` 20%) of the 2-worker ceiling; p99 ≤ 100 ms × 15,900 ÷ the 2-worker ceiling's
  req/s; every response 200. At 1 worker and 256 connections: no stall. The "bar / aim" column
  also says how far each read is from the long-term aim of 30% of the ceiling.

## Latest run

{date}: {mode}. Parts: {run_parts}. Code: {code}. {machine}. Dataset: {dataset}. Wall time
{wall:.0f} s.

{table}
{notes}
{bars}

Overall (this run): **{verdict}**.
{measured}
## Every part's latest section (latest.json)

| part | date | code | pass | noisy |
|---|---|---|---|---|
{sections}

{extra}"""

NOTES_PATH = Path(__file__).resolve().parents[2] / "docs" / "benchmarks" / "notes.md"


def _parts_text() -> str:
    from app.bench.parts import PARTS, PERSONAS

    lines = []
    for part in PARTS.values():
        lines.append(f"- **{part.name}**: {part.description}.")
        for read in part.reads:
            persona = PERSONAS[read.persona].description
            bar = (
                f"bar {read.bar:.0%}"
                if read.bar is not None
                else f"heavy read: p99 ≤ {read.p99_bar_ms:.0f} ms, scaled"
            )
            lines.append(f"  - `GET {read.path}` ({read.key}) as {persona}; {bar}.")
        if part.beside_logins:
            lines.append(f"  - beside logins: {', '.join(part.beside_logins)}.")
        for burst in part.bursts:
            lines.append(
                f"  - `{burst.path}` ({burst.key}): a write burst, each member once; bar "
                f"{burst.bar:.0%}, zero errors, {burst.check}."
            )
    return "\n".join(lines)


def render_readme(report: Report, merged: dict[str, Any] | None = None) -> str:
    from app.bench.parts import PARTS

    data = report.to_json()
    settings, machine, dataset = data["settings"], data["machine"], data["dataset"]
    mode = (
        f"{settings['runs']} run(s) of {settings['duration_s']} s after a "
        f"{settings['warmup_s']} s warm-up"
    )
    if settings.get("quick"):
        mode = f"quick smoke ({mode}): not a reference measurement"
    if not report.results:
        mode = "measured parts only (no server, no reads)"
    pkgs = machine["packages"]
    machine_text = (
        f"{machine['nproc']} × {machine['cpu_model']}, Python {machine['python']}, "
        f"PostgreSQL {machine['postgresql']}, fastapi {pkgs.get('fastapi')}, "
        f"uvicorn {pkgs.get('uvicorn')}, SQLAlchemy {pkgs.get('sqlalchemy')}, "
        f"asyncpg {pkgs.get('asyncpg')}"
    )
    dataset_text = (
        f"{dataset['members']:,} members, {dataset['branches']:,} branches, "
        f"{dataset['orgs']:,} orgs"
    )
    if dataset.get("seed_seconds") is not None:
        dataset_text += f" (seeded in {dataset['seed_seconds']:.0f} s)"
    notes = [
        f"- {r.label} (w{r.workers}, c{r.conns}) stopped early: {r.failure}"
        for r in report.results
        if r.failure
    ]
    noisy = [f"{r.label} w{r.workers} c{r.conns}" for r in report.results if r.noisy]
    if noisy:
        notes.append(
            f"- Noisy (other work took > {NOISY_OTHER_PCT:.0f}% of the host during a run): "
            + ", ".join(noisy)
            + ". Re-run on a quiet machine before drawing conclusions."
        )
    busy = machine.get("host_busy_pct_before_load")
    if busy is not None and busy > NOISY_HOST_PCT:
        notes.append(
            f"- The host was {busy:.0f}% busy before any load: something else was running, so "
            "these figures are noisy."
        )
    logins = [r for r in report.results if r.logins]
    for r in logins:
        notes.append(f"- Logins beside {r.label}: {r.logins}")
    sections = []
    for name, section in ((merged or {}).get("parts") or {}).items():
        sections.append(
            f"| {name} | {section.get('settings', {}).get('date')} | "
            f"{_code_text(section.get('code') or {})} | "
            f"{'PASS' if section.get('pass') else '**FAIL**'} | "
            f"{'yes' if section.get('noisy') else 'no'} |"
        )
    extra = NOTES_PATH.read_text(encoding="utf-8") if NOTES_PATH.exists() else ""
    measured = []
    for name, section in ((merged or {}).get("parts") or {}).items():
        part = PARTS.get(name)
        if part is not None and part.render is not None:
            measured.append(f"\n### The {name} part (latest)\n\n{part.render(section)}\n")
    ran = settings.get("parts") or []
    verdict = data["pass"]
    if merged is not None and ran:
        verdict = all((merged.get("parts") or {}).get(name, {}).get("pass") for name in ran)
    return README_TEMPLATE.format(
        parts=_parts_text(),
        variants=max((r.variants for r in report.results), default=1),
        notes="\n" + "\n".join(notes) + "\n" if notes else "",
        wrk_timeout=WRK_TIMEOUT_S,
        noisy=f"{NOISY_OTHER_PCT:.0f}",
        imbalanced=f"{IMBALANCED_WORKER_PCT:.0f}",
        attempts=MAX_ATTEMPTS,
        date=settings["date"],
        run_parts=", ".join(settings.get("parts") or []),
        code=_code_text(data["code"]),
        mode=mode,
        machine=machine_text,
        dataset=dataset_text,
        wall=report.wall_time_s,
        table=report.markdown_table() if report.results else "",
        bars=report.markdown_bars() if report.results else "",
        verdict="PASS" if verdict else "FAIL",
        measured="".join(measured),
        sections="\n".join(sections),
        extra=extra,
    )
