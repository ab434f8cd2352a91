"""What `handbook bench` measures: parts, each a few hot reads, each read as a persona.

This is the one place an area registers its hot path (docs/architecture.md step 13):

    PERSONAS["chair"] = Persona("chair", "the secretary chairing a meeting", pick=_chairs)
    PARTS["meetings"] = Part(
        "meetings",
        "a meeting's detail as its chair",
        reads=(Read("meeting_detail", "meeting detail", "/api/v1/meetings/{object_id}", "chair"),),
    )

- A **persona** picks `count` members of the generated province, each with the ids its paths
  need (`org_id`, `object_id`), spread over several branches and levels (never one hot row).
  `pick(conn, count)` runs on the bench database after seeding.
- A **read** is a GET path template, the persona it is sent as, and its bar (the share of the
  2-worker ceiling it must reach, DESIGN.md §5). Each persona pick gives one variant of the
  request (its own URL and token); wrk sends the variants in turn.
- A **burst** is a write many members make at once, each once, with their own token, body and
  Idempotency-Key (the meeting-night check-in, the quiz submit): its `kind` (`app/bench/bursts.py`)
  prepares fresh targets before every burst (a write cannot be repeated on the same rows), checks
  the database after it (zero errors, exactly one row per member) and removes its rows at the
  end. It is measured at 2 workers and 64 connections only (where its bar is judged: ≥ 5% of the
  2-worker ceiling, DESIGN.md §5), as a warm-up burst and then `runs` bursts.
- A **part** groups reads (or bursts); `handbook bench --part NAME` runs only those parts, and
  each part's section in `docs/benchmarks/latest.json` is replaced by its own run only (never
  another's). The `logins` part measures reads beside password logins instead (DESIGN.md §5,
  logins bar).
- A **measured part** has no reads: its own code (`measure`) runs on the seeded bench database
  and returns its section of latest.json (figures, `bars`, `pass`), merged like the others;
  `render` writes that section for the README. The `import` part is one: a generated member
  file imported (dry run, apply, then the same file again) into a copy of the province.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.bench.bursts import BurstKind, CheckinBurst, QuizSubmitBurst

READ_BAR = 0.15  # DESIGN.md §5: authenticated reads ≥ 15% of the 2-worker ceiling
HOME_BAR = 0.20  # /me/home ≥ 20%
HEAVY_P99_MS = 150.0  # heavy reads (root statistics …): p99 ≤ 150 ms, scaled (DESIGN.md §5)
AIM = 0.30  # the long-term aim for every hot read
LOGINS_KEEP = 0.80  # reads keep ≥ 80% of their same-run baseline beside logins
LOGINS_PER_S = 5.0
VARIANTS = 8  # persona picks per read
BURST_BAR = 0.05  # write bursts: ≥ 5% of the 2-worker ceiling, zero errors, one row per member


@dataclass(frozen=True, slots=True)
class Pick:
    """One member a persona stands for, and the ids the read's path needs."""

    member_id: int
    org_id: int
    object_id: int | None = None
    note: str = ""


PickFn = Callable[[AsyncConnection, int], Awaitable[list[Pick]]]


@dataclass(frozen=True, slots=True)
class Persona:
    key: str
    description: str
    pick: PickFn


@dataclass(frozen=True, slots=True)
class Read:
    key: str
    label: str
    path: str  # template: {member_id}, {org_id}, {object_id}
    persona: str
    # Share of the 2-worker ceiling required; None for heavy reads, judged on p99 alone.
    bar: float | None = READ_BAR
    p99_bar_ms: float | None = None  # heavy reads: their own p99 bar (None: the read bar's)

    def url_path(self, pick: Pick) -> str:
        return self.path.format(
            member_id=pick.member_id, org_id=pick.org_id, object_id=pick.object_id
        )


@dataclass(frozen=True, slots=True)
class Measure:
    """What a measured part is given: the bench database (migrated, its province seeded) and
    the run's settings, code and machine (copied into its section)."""

    database_url: str
    members: int
    settings: dict[str, Any]
    code: dict[str, Any]
    machine: dict[str, Any]
    log: Callable[[str], None] = print
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {"import_rows": 50000}


@dataclass(frozen=True, slots=True)
class Burst:
    """A write burst: each request one member's own write, sent once (`bursts.BurstKind`)."""

    key: str
    label: str
    path: str  # the write's route, as reported (`POST /api/v1/...`)
    kind: Callable[[], BurstKind]  # a fresh set-up per bench run
    check: str  # what the check after each burst asserts, as reported
    bar: float = BURST_BAR


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    description: str
    reads: tuple[Read, ...] = ()
    # Reads measured again while password logins run beside them (the logins bar).
    beside_logins: tuple[str, ...] = ()
    # A measured part (no reads): its section of latest.json, and that section as Markdown.
    measure: Callable[[Measure], dict[str, Any]] | None = None
    render: Callable[[dict[str, Any]], str] | None = None
    bursts: tuple[Burst, ...] = ()


# --- personas ------------------------------------------------------------------------------------
# Picks are deterministic (ordered by id) and spread: one per commune/ward where possible.

_SPREAD_BRANCHES = """
WITH sized AS (
    SELECT o.id, o.path, split_part(o.path, '/', 3) AS top,
           (SELECT count(*) FROM member m WHERE m.branch_id = o.id) AS size
    FROM org o WHERE o.kind = 'branch'
), ranked AS (
    SELECT id, path, size,
           row_number() OVER (PARTITION BY top ORDER BY abs(size - 28), id) AS n
    FROM sized WHERE size BETWEEN 15 AND 60
)
SELECT id FROM ranked WHERE n = 1 ORDER BY id LIMIT :count
"""


async def _branches(conn: AsyncConnection, count: int) -> list[int]:
    rows = await conn.execute(text(_SPREAD_BRANCHES), {"count": count})
    return [int(r[0]) for r in rows]


async def _plain_members(conn: AsyncConnection, count: int) -> list[Pick]:
    picks = []
    for branch_id in await _branches(conn, count):
        member_id = await conn.scalar(
            text(
                "SELECT m.id FROM member m WHERE m.branch_id = :b AND NOT m.is_locked "
                "AND NOT EXISTS (SELECT 1 FROM role_grant g WHERE g.member_id = m.id "
                "AND g.revoked_at IS NULL) ORDER BY m.id LIMIT 1"
            ),
            {"b": branch_id},
        )
        if member_id is not None:
            picks.append(Pick(int(member_id), branch_id))
    return picks


async def _role_holders(conn: AsyncConnection, count: int, role: str, kind: str) -> list[Pick]:
    rows = await conn.execute(
        text(
            "SELECT DISTINCT ON (o.id) g.member_id, o.id, "
            "(SELECT count(*) FROM member m WHERE m.org_path >= o.path "
            "AND m.org_path < o.path || '~') AS size "
            "FROM role_grant g JOIN org o ON o.id = g.org_id JOIN member mm ON mm.id = g.member_id "
            "WHERE g.role = :role AND g.revoked_at IS NULL AND o.kind = :kind AND NOT mm.is_locked "
            "ORDER BY o.id, g.id"
        ),
        {"role": role, "kind": kind},
    )
    found = [Pick(int(r[0]), int(r[1]), note=f"{int(r[2])} members") for r in rows]
    if kind == "branch":
        wanted = set(await _branches(conn, count))
        found = [p for p in found if p.org_id in wanted]
    return found[:count]


async def _secretaries(conn: AsyncConnection, count: int) -> list[Pick]:
    return await _role_holders(conn, count, "secretary", "branch")


async def _ward_officers(conn: AsyncConnection, count: int) -> list[Pick]:
    return await _role_holders(conn, count, "organisation_officer", "commune_committee")


async def _province_officers(conn: AsyncConnection, count: int) -> list[Pick]:
    """Organisation officers on the root: the root statistics' readers."""
    rows = await conn.execute(
        text(
            "SELECT g.member_id, o.id FROM role_grant g JOIN org o ON o.id = g.org_id "
            "JOIN member m ON m.id = g.member_id WHERE g.role = 'organisation_officer' "
            "AND g.revoked_at IS NULL AND o.parent_id IS NULL AND NOT m.is_locked "
            "ORDER BY g.id LIMIT :count"
        ),
        {"count": count},
    )
    return [Pick(int(r[0]), int(r[1]), note="root") for r in rows]


async def _province_documents(conn: AsyncConnection) -> list[int]:
    """The province's (the root's) published documents: the ones every member receives."""
    rows = await conn.execute(
        text(
            "SELECT d.id FROM document d JOIN org o ON o.id = d.org_id "
            "WHERE o.parent_id IS NULL AND d.status = 'published' ORDER BY d.id"
        )
    )
    return [int(r[0]) for r in rows]


async def _document_readers(conn: AsyncConnection, count: int) -> list[Pick]:
    """Plain members, each reading one of the province's published documents (the ones every
    member receives), a different one per pick where there are enough."""
    documents = await _province_documents(conn)
    if not documents:
        return []
    return [
        Pick(p.member_id, p.org_id, object_id=documents[n % len(documents)])
        for n, p in enumerate(await _plain_members(conn, count))
    ]


async def _document_officers(conn: AsyncConnection, count: int) -> list[Pick]:
    """Organisation officers of the province, each with one of its published documents: the
    officer asking who, across the whole province, has opened it."""
    officers = await _province_officers(conn, count)
    documents = await _province_documents(conn)
    return [
        Pick(p.member_id, p.org_id, object_id=documents[n % len(documents)], note="root")
        for n, p in enumerate(officers)
        if documents
    ]


async def _chairs(conn: AsyncConnection, count: int) -> list[Pick]:
    """Branch secretaries, each with their branch's announced (upcoming) meeting."""
    picks = []
    for pick in await _secretaries(conn, count):
        meeting_id = await conn.scalar(
            text(
                "SELECT id FROM meeting WHERE org_id = :b AND status = 'announced' "
                "ORDER BY starts_at DESC, id DESC LIMIT 1"
            ),
            {"b": pick.org_id},
        )
        if meeting_id is not None:
            picks.append(Pick(pick.member_id, pick.org_id, object_id=int(meeting_id)))
    return picks


PERSONAS: dict[str, Persona] = {
    p.key: p
    for p in (
        Persona("plain_member", "a plain member of a branch of ~28 (no role)", _plain_members),
        Persona("secretary", "the secretary of a branch of ~28", _secretaries),
        Persona(
            "ward_officer",
            "an organisation officer of a commune/ward committee (a subtree of thousands)",
            _ward_officers,
        ),
        Persona(
            "province_officer",
            "an organisation officer of the province (the root: the whole tree)",
            _province_officers,
        ),
        Persona("chair", "a branch secretary with their branch's upcoming meeting", _chairs),
        Persona(
            "document_reader",
            "a plain member opening one of the province's documents",
            _document_readers,
        ),
        Persona(
            "document_officer",
            "an organisation officer of the province with one of its documents",
            _document_officers,
        ),
    )
}

# --- parts ---------------------------------------------------------------------------------------


def _measure_import(measure: Measure) -> dict[str, Any]:
    from app.bench import imports  # openpyxl and the worker's handlers: only when it runs

    return imports.measure(measure)


def _render_import(section: dict[str, Any]) -> str:
    from app.bench import imports

    return imports.render(section)


PARTS: dict[str, Part] = {
    p.name: p
    for p in (
        Part(
            "reads",
            "the foundation's hot reads: home screen and members pages",
            reads=(
                Read("me_home", "/me/home", "/api/v1/me/home", "plain_member", bar=HOME_BAR),
                Read(
                    "branch_members",
                    "members page (branch)",
                    "/api/v1/orgs/{org_id}/members?limit=20",
                    "secretary",
                ),
                Read(
                    "subtree_members",
                    "members page (ward subtree)",
                    "/api/v1/orgs/{org_id}/members?limit=20",
                    "ward_officer",
                ),
            ),
        ),
        Part(
            "notifications",
            "the member's inbox (worker issue: the inbox joins the read bar)",
            reads=(
                Read(
                    "my_notifications",
                    "/me/notifications",
                    "/api/v1/me/notifications?limit=20",
                    "plain_member",
                ),
            ),
        ),
        Part(
            "meetings",
            "branch meetings (meetings issue)",
            reads=(
                Read("my_meetings", "/me/meetings", "/api/v1/me/meetings?limit=20", "plain_member"),
                Read("meeting_detail", "meeting detail", "/api/v1/meetings/{object_id}", "chair"),
                Read(
                    "meeting_attendance",
                    "live attendance",
                    "/api/v1/meetings/{object_id}/attendance",
                    "chair",
                ),
                Read(
                    "subtree_meetings",
                    "a ward's meetings",
                    "/api/v1/orgs/{org_id}/subtree-meetings?limit=20",
                    "ward_officer",
                ),
            ),
        ),
        Part(
            "content",
            "documents and news reaching members (content issue)",
            reads=(
                Read("my_feed", "/me/feed", "/api/v1/me/feed?limit=20", "plain_member"),
                Read(
                    "document_detail",
                    "a province document",
                    "/api/v1/documents/{object_id}",
                    "document_reader",
                ),
                Read(
                    "org_documents",
                    "a ward's documents",
                    "/api/v1/orgs/{org_id}/documents?limit=20",
                    "ward_officer",
                ),
                # The officer's "who has read it" over the whole province (a heavy read).
                Read(
                    "document_coverage",
                    "a province document's readers by unit (whole province)",
                    "/api/v1/documents/{object_id}/coverage",
                    "document_officer",
                    bar=None,
                    p99_bar_ms=HEAVY_P99_MS,
                ),
            ),
        ),
        Part(
            "study",
            "study points and leaderboards (study issue)",
            reads=(
                Read("my_points", "/me/points", "/api/v1/me/points", "plain_member"),
                Read("my_rank", "/me/leaderboard", "/api/v1/me/leaderboard", "plain_member"),
                Read(
                    "branch_leaderboard",
                    "a branch's leaderboard",
                    "/api/v1/orgs/{org_id}/leaderboard?limit=20",
                    "secretary",
                ),
                # DESIGN.md §5 counts it among the heavy reads.
                Read(
                    "province_units",
                    "the province's leaderboard by unit",
                    "/api/v1/orgs/{org_id}/leaderboard/units",
                    "province_officer",
                    bar=None,
                    p99_bar_ms=HEAVY_P99_MS,
                ),
            ),
        ),
        Part(
            "stats",
            "statistics this month, read from the rollup (heavy reads: p99 ≤ 150 ms): the "
            "province's root figures, its branches that need attention, a ward's branch "
            "signals (the rollup is built first if the province has none)",
            reads=(
                Read(
                    "root_stats",
                    "org statistics (root)",
                    "/api/v1/orgs/{org_id}/stats?period=month",
                    "province_officer",
                    bar=None,
                    p99_bar_ms=HEAVY_P99_MS,
                ),
                Read(
                    "root_attention",
                    "branches that need attention (root)",
                    "/api/v1/orgs/{org_id}/stats/branches?period=month&attention=true&limit=20",
                    "province_officer",
                    bar=None,
                    p99_bar_ms=HEAVY_P99_MS,
                ),
                Read(
                    "ward_signals",
                    "branch signals (ward)",
                    "/api/v1/orgs/{org_id}/stats/branches?period=month&limit=20",
                    "ward_officer",
                    bar=None,
                    p99_bar_ms=HEAVY_P99_MS,
                ),
            ),
        ),
        Part(
            "logins",
            "reads beside password logins at 5/s on distinct phones",
            beside_logins=("me_home", "branch_members"),
        ),
        Part(
            "import",
            "member import (DESIGN.md §5): a generated 50,000-row .xlsx (`--import-rows`) into "
            "a copy of the province at its root, as a province organisation officer, through the "
            "worker's handlers; dry run ≤ 60 s and apply ≤ 60 s, each reported, then the same "
            "file again, which must change nothing",
            measure=_measure_import,
            render=_render_import,
        ),
        Part(
            "checkin",
            "the meeting-night check-in burst (meetings issue)",
            bursts=(
                Burst(
                    "checkin",
                    "check-in burst",
                    "POST /api/v1/meetings/{meeting_id}/check-in",
                    CheckinBurst,
                    "exactly one attendance per member (present, by the app), none for others",
                ),
            ),
        ),
        Part(
            "quiz_submit",
            "the quiz-submit burst (study issue)",
            bursts=(
                Burst(
                    "quiz_submit",
                    "quiz-submit burst",
                    "POST /api/v1/quiz-attempts/{attempt_id}/submit",
                    QuizSubmitBurst,
                    "every attempt submitted and passed once, exactly one ledger entry each",
                ),
            ),
        ),
    )
}


def select_parts(names: list[str] | None) -> list[Part]:
    """The parts to run, in registry order (all of them by default)."""
    if not names:
        return list(PARTS.values())
    unknown = sorted(set(names) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown part(s): {', '.join(unknown)}; known: {', '.join(PARTS)}")
    return [p for p in PARTS.values() if p.name in names]


def all_reads() -> dict[str, tuple[Part, Read]]:
    return {r.key: (p, r) for p in PARTS.values() for r in p.reads}


def all_bursts() -> dict[str, tuple[Part, Burst]]:
    return {b.key: (p, b) for p in PARTS.values() for b in p.bursts}
