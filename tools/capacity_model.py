"""The capacity model of docs/capacity.md, computed from a `handbook bench` run.

    python3 tools/capacity_model.py [LATEST.json [MORE.json ...]] [--check OTHER.json]

Reads the per-request costs the bench measured (each read and burst at 2 workers and 64
connections: server CPU ms per request, PostgreSQL CPU ms per request, response bytes) and
prints, as Markdown, the inputs, the requests of each scenario (DESIGN.md's loads, docs/capacity.md
"Scenarios") for a Hà Nội-sized province and for the national deployment, the cores they need at
the target utilisation, and, with `--check`, the model's prediction of this machine's throughput
for each read of the other run from this run's costs, against what that run measured.

Nothing here is measured: it is arithmetic over the bench's figures. A cost the run did not
measure is taken from a stated proxy (printed with the inputs).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
UTILISATION = 0.6  # a core's target use at peak (headroom for bursts and GC)
BAR_WORKERS, BAR_CONNS = 2, 64
PROVINCE = {"members": 476_000, "branches": 16_800}
NATIONAL = {"members": 5_600_000, "branches": 250_000}


@dataclass(frozen=True)
class Cost:
    key: str
    label: str
    api_ms: float
    pg_ms: float
    bytes: int
    rps: float
    measured: bool = True
    proxy_of: str | None = None


def _sections(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts' sections of latest.json (schema 2), or the run itself (schema 1)."""
    return list(run["parts"].values()) if "parts" in run else [run]


def _results(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every result at the bar's configuration (2 workers, 64 connections), by target."""
    found: dict[str, dict[str, Any]] = {}
    for section in _sections(run):
        for result in section.get("results", []):
            if (result["workers"], result["conns"]) != (BAR_WORKERS, BAR_CONNS):
                continue
            if result.get("baseline"):  # a read measured beside logins: not its own cost
                continue
            found.setdefault(result["target"], result)
    return found


def costs(run: dict[str, Any]) -> dict[str, Cost]:
    found: dict[str, Cost] = {}
    for key, r in _results(run).items():
        if r.get("server_cpu_ms_per_req") is None:
            continue
        found[key] = Cost(
            key,
            r["label"],
            float(r["server_cpu_ms_per_req"]),
            float(r.get("postgres_cpu_ms_per_req") or 0.0),
            int(r.get("response_bytes") or 0),
            float(r.get("rps") or 0.0),
        )
    return found


# The requests of each scenario, per second, for a deployment of `members` and `branches`; each
# (cost key, proxies in order of preference, requests per second, what it stands for).
Load = list[tuple[str, tuple[str, ...], float, str]]


def scenarios(members: int, branches: int, meeting_members: int) -> dict[str, Load]:
    openings = members * 0.30 * 0.25 / 600  # busiest 10 minutes hold 25% of the 30% who open
    checkins = meeting_members * 0.8 / 1800  # 70% of the branches meet within 30 minutes
    polls = meeting_members * 0.63 / 30  # apps open on a meeting's detail, polled every 30 s
    opens = members * 0.5 / 10_800  # half the members open the document in 3 hours
    # Statistics readers: 3 a committee (secretary, deputy, organisation officer), committees
    # ≈ 10.4% of the branches (1,743 for 16,800 in the generated province), all in one hour.
    readers = branches * 0.104 * 3
    return {
        "morning peak": [
            ("me_home", (), openings, "/me/home, one per opening"),
            ("my_feed", ("me_home",), openings, "the feed, one per opening"),
            ("my_notifications", ("me_home",), openings, "the inbox, one per opening"),
            ("refresh", ("checkin",), openings / 3, "a token refresh for 1 opening in 3"),
        ],
        "meeting night": [
            ("checkin", (), checkins, "check-in, one per member present"),
            ("meeting_detail", ("me_home",), polls, "meeting detail polled every 30 s"),
            ("comment", ("checkin",), checkins * 0.3, "comments, 0.3 per member"),
            ("vote", ("checkin",), checkins * 2 * 0.96, "ballots: 2 motions, full members"),
        ],
        "national document": [
            ("document_detail", ("me_home",), opens, "the document, one per open"),
            (
                "document_sections",
                ("document_detail", "me_home"),
                opens * 3,
                "sections, 3 per open",
            ),
            ("receipt", ("checkin",), opens, "the read receipt (a write)"),
        ],
        "statistics": [
            ("root_stats", (), readers / 3600, "a committee's figures, each reader once an hour"),
            ("root_attention", ("root_stats",), readers / 3600, "its branches needing attention"),
        ],
    }


def _resolve(measured: dict[str, Cost], key: str, proxies: tuple[str, ...]) -> Cost | None:
    if key in measured:
        return measured[key]
    for proxy in proxies:
        if proxy in measured:
            base = measured[proxy]
            return Cost(
                key, base.label, base.api_ms, base.pg_ms, base.bytes, base.rps, False, proxy
            )
    return None


def _cores(ms_per_s: float) -> float:
    return ms_per_s / (1000 * UTILISATION)


def scenario_table(measured: dict[str, Cost], members: int, branches: int, meeting: int) -> str:
    lines = [
        "| scenario | request | req/s | cost (API / PG ms) | API ms/s | PG ms/s | MB/s out |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    totals: list[str] = [
        "",
        "| scenario | req/s | API cores (= processes) at 60% | PostgreSQL cores at 60% | "
        "pooler connections (≈ 2 × PG cores) | egress MB/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, load in scenarios(members, branches, meeting).items():
        rps = api = pg = out = 0.0
        for key, proxies, rate, what in load:
            cost = _resolve(measured, key, proxies)
            if cost is None:
                lines.append(f"| {name} | {what} | {rate:,.0f} | not measured | | | |")
                continue
            note = "" if cost.measured else f" (as {cost.proxy_of})"
            a, p, b = rate * cost.api_ms, rate * cost.pg_ms, rate * cost.bytes / 1e6
            rps, api, pg, out = rps + rate, api + a, pg + p, out + b
            lines.append(
                f"| {name} | {what}{note} | {rate:,.0f} | {cost.api_ms:.2f} / {cost.pg_ms:.2f} "
                f"| {a:,.0f} | {p:,.0f} | {b:.1f} |"
            )
        pg_cores = _cores(pg)
        totals.append(
            f"| {name} | {rps:,.0f} | {_cores(api):.1f} → {math.ceil(_cores(api))} | "
            f"{pg_cores:.1f} → {math.ceil(pg_cores)} | {max(4, 2 * math.ceil(pg_cores))} | "
            f"{out:.1f} |"
        )
    return "\n".join(lines + totals)


def inputs_table(run: dict[str, Any], measured: dict[str, Cost]) -> str:
    ceilings: dict[int, float] = {}
    for section in _sections(run):  # the first run's (parts merged in from others come later)
        for w, rps in (section.get("ceiling_rps") or {}).items():
            ceilings.setdefault(int(w), rps)
    lines = [
        f"Run: {run.get('updated') or run['settings'].get('date')}; ceilings (bare FastAPI, "
        "same run) "
        + ", ".join(f"{w} worker(s) {r:,.0f} req/s" for w, r in sorted(ceilings.items())),
        "",
        "| read / write | req/s (2 workers, 64 conns) | server CPU ms/req | PostgreSQL CPU ms/req "
        "| response bytes |",
        "|---|---:|---:|---:|---:|",
    ]
    for cost in sorted(measured.values(), key=lambda c: c.key):
        lines.append(
            f"| {cost.key} ({cost.label}) | {cost.rps:,.0f} | {cost.api_ms:.3f} | "
            f"{cost.pg_ms:.3f} | {cost.bytes:,} |"
        )
    return "\n".join(lines)


def _available_ms(result: dict[str, Any]) -> float:
    """CPU ms per second left to the API, PostgreSQL and wrk during a measurement: the
    machine's 2 cores less what other processes used (`other_cpu_pct_max`, a share of both)."""
    other = float(result.get("other_cpu_pct_max") or 0.0)
    return 2000 * max(0.05, 1 - other / 100)


def check_table(model: dict[str, Cost], run: dict[str, Any]) -> str:
    """This machine's req/s for each read of `run`, predicted from `model`'s costs: the cores
    left by other processes during that measurement are shared by the API, PostgreSQL and wrk,
    so req/s = available CPU ms ÷ (API + PG + client ms per request); the client's (wrk's)
    cost per request comes from `run`'s own ceiling (available ms ÷ ceiling req/s − the
    ceiling's server CPU)."""
    results = _results(run)
    ceiling = results.get("ceiling")
    if ceiling is None or not ceiling.get("rps"):
        return "(the run has no 2-worker ceiling)"
    client_ms = max(
        0.0, _available_ms(ceiling) / ceiling["rps"] - float(ceiling["server_cpu_ms_per_req"])
    )
    lines = [
        f"Client (wrk) CPU per request, from that run's ceiling: {client_ms:.3f} ms.",
        "",
        "| read | model: API + PG ms | CPU left by others | predicted req/s | measured req/s "
        "| off by |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    errors: list[float] = []
    for key, measured in sorted(results.items()):
        cost = model.get(key)
        if key == "ceiling" or cost is None or not measured.get("rps"):
            continue
        available = _available_ms(measured)
        predicted = available / (cost.api_ms + cost.pg_ms + client_ms)
        off = predicted / measured["rps"] - 1
        errors.append(abs(off))
        lines.append(
            f"| {key} | {cost.api_ms + cost.pg_ms:.2f} | {available / 1000:.2f} cores "
            f"| {predicted:,.0f} | {measured['rps']:,.0f} | {off:+.0%} |"
        )
    if errors:
        lines.append("")
        lines.append(
            f"Median absolute error {statistics.median(errors):.0%}, "
            f"worst {max(errors):.0%}, over {len(errors)} reads."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "bench",
        nargs="*",
        type=Path,
        default=[ROOT / "docs" / "benchmarks" / "latest.json"],
        help="latest.json of a run; more files add the parts the first lacks (e.g. a stats run)",
    )
    parser.add_argument("--check", type=Path, help="another run to predict from this one's costs")
    args = parser.parse_args(argv)
    run = json.loads(args.bench[0].read_text())
    for extra in args.bench[1:]:
        for name, section in json.loads(extra.read_text()).get("parts", {}).items():
            run.setdefault("parts", {}).setdefault(name, section)
    measured = costs(run)
    out = sys.stdout.write
    out("## Inputs\n\n" + inputs_table(run, measured) + "\n\n")
    out(f"## A Hà Nội-sized province ({PROVINCE['members']:,} members)\n\n")
    out(scenario_table(measured, PROVINCE["members"], PROVINCE["branches"], PROVINCE["members"]))
    out(f"\n\n## National ({NATIONAL['members']:,} members; one province meets at once)\n\n")
    out(scenario_table(measured, NATIONAL["members"], NATIONAL["branches"], PROVINCE["members"]))
    out("\n")
    if args.check:
        out("\n## Check against a run\n\n")
        out(check_table(measured, json.loads(args.check.read_text())) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
