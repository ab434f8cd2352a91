"""The `handbook` command, run for real in a subprocess (`python -m app.cli` calls `main()`).

The database commands run on SQLite and, when TEST_DATABASE_URL is set, on a scratch PostgreSQL
database too. Each subprocess runs in a temp dir with a clean environment: no `.env`, no outer
settings, and the dev secret lands in the temp dir, never in the repository.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import FreshDatabase

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CLI_TIMEOUT_S = 120
SETTINGS_ENV_NAMES = frozenset({"ENV", "DATABASE_URL", "REDIS_URL", "DATA_DIR"})
SETTINGS_GROUPS = ("AUTH", "SMS", "DB", "API", "OPS", "LOG", "RULES", "WORKER", "FCM", "NOTIFY")
SEEDED = re.compile(r"seeded (\d+) orgs \((\d+) branches\), (\d+) members, (\d+) roles")


@dataclass(frozen=True)
class CliResult:
    returncode: int
    output: str  # stdout and stderr (the command prints to stderr)


@dataclass(frozen=True)
class CliDatabase:
    url: str  # as an operator writes it: postgresql://… or sqlite:///…
    engine: AsyncEngine


def _is_settings_variable(name: str) -> bool:
    upper = name.upper()
    return (
        upper in SETTINGS_ENV_NAMES
        or upper in SETTINGS_GROUPS
        or upper.startswith(tuple(f"{group}__" for group in SETTINGS_GROUPS))
    )


def cli_environment(cwd: Path, **env: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not _is_settings_variable(k)}
    environment.update(
        PYTHONPATH=str(PROJECT_ROOT),
        ENV="dev",
        DATA_DIR=str(cwd / "var"),
        DATABASE_URL=f"sqlite:///{cwd / 'unused.db'}",
        LOG__JSON_FORMAT="false",
        COLUMNS="200",  # rich wraps nothing at this width
    )
    environment.update(env)
    return environment


async def run_cli(*args: str, cwd: Path, **env: str) -> CliResult:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        cwd=cwd,
        env=cli_environment(cwd, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=CLI_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return CliResult(process.returncode, output.decode())


@pytest.fixture
def cli_database(fresh_db: FreshDatabase) -> CliDatabase:
    """An empty database of each kind; the CLI gets the plain URL an operator would write."""
    return CliDatabase(url=fresh_db.plain_url, engine=fresh_db.engine)


async def count(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar_one())


async def test_db_upgrade_migrates_empty_database_to_head(
    cli_database: CliDatabase, tmp_path: Path
) -> None:
    result = await run_cli("db", "upgrade", cwd=tmp_path, DATABASE_URL=cli_database.url)

    assert result.returncode == 0, result.output
    assert await count(cli_database.engine, "SELECT count(*) FROM alembic_version") == 1
    assert await count(cli_database.engine, "SELECT count(*) FROM member") == 0
    # It says what it applies, oldest first, and then that nothing is left.
    planned = re.findall(r"will apply (\w+):", result.output)
    assert planned[0] == "0001"
    assert len(planned) == len(set(planned)) >= 7
    again = await run_cli("db", "upgrade", cwd=tmp_path, DATABASE_URL=cli_database.url)
    assert again.returncode == 0, again.output
    assert "nothing to apply" in again.output
    assert "will apply" not in again.output


async def test_concurrent_upgrades_wait_for_each_other(
    cli_database: CliDatabase, tmp_path: Path
) -> None:
    """Two migration jobs started at once (two replicas' init containers): on PostgreSQL the
    advisory lock makes the second wait and find the database at head. SQLite serialises
    writers by itself, so this race is meaningful on PostgreSQL only."""
    if not cli_database.url.startswith("postgresql"):
        pytest.skip("the race needs two connections to a server: PostgreSQL only")
    runs = await asyncio.gather(
        *(run_cli("db", "upgrade", cwd=tmp_path, DATABASE_URL=cli_database.url) for _ in range(2))
    )
    assert [run.returncode for run in runs] == [0, 0], [run.output for run in runs]
    assert await count(cli_database.engine, "SELECT count(*) FROM alembic_version") == 1


async def test_seed_adds_demo_province(cli_database: CliDatabase, tmp_path: Path) -> None:
    upgrade = await run_cli("db", "upgrade", cwd=tmp_path, DATABASE_URL=cli_database.url)
    assert upgrade.returncode == 0, upgrade.output

    result = await run_cli("seed", cwd=tmp_path, DATABASE_URL=cli_database.url)

    assert result.returncode == 0, result.output
    match = SEEDED.search(result.output)
    assert match, result.output
    orgs, branches, members, roles = map(int, match.groups())
    assert branches == 20
    assert 250 <= members <= 350
    engine = cli_database.engine
    assert await count(engine, "SELECT count(*) FROM org") == orgs
    assert await count(engine, "SELECT count(*) FROM org WHERE kind = 'branch'") == branches
    assert await count(engine, "SELECT count(*) FROM member") == members
    assert await count(engine, "SELECT count(*) FROM role_grant") == roles
    # Content at every level: published documents (one relayed, one read), a draft, articles.
    published = "SELECT count(*) FROM document WHERE status = 'published'"
    assert await count(engine, published) == 5
    assert await count(engine, "SELECT count(*) FROM document_relay") == 1
    assert await count(engine, "SELECT count(*) FROM packet_item") == 2
    assert await count(engine, "SELECT count(*) FROM document_receipt") == 2
    assert await count(engine, "SELECT count(*) FROM article WHERE status = 'published'") == 2
    # Tomorrow's announced meeting has a guest from the level above (not of the branch).
    guests = (
        "SELECT count(*) FROM meeting_attendee a JOIN meeting m ON m.id = a.meeting_id "
        "JOIN member g ON g.id = a.member_id WHERE m.status = 'announced' AND a.kind = 'guest' "
        "AND g.branch_id <> m.org_id"
    )
    assert await count(engine, guests) == 1
    assert (tmp_path / "var" / "dev-secret").exists()  # ENV=dev: generated next to the data


async def test_db_recount_rebuilds_drifted_coverage_counters(
    cli_database: CliDatabase, tmp_path: Path
) -> None:
    """Counters that drifted (a previous release's processes during a rolling upgrade counted
    receipts per branch only, or added unit counters without their parent) are rebuilt from the
    receipts."""
    for args in (("db", "upgrade"), ("seed",)):
        result = await run_cli(*args, cwd=tmp_path, DATABASE_URL=cli_database.url)
        assert result.returncode == 0, result.output
    engine = cli_database.engine

    async def counters() -> list[tuple[object, ...]]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT 'unit', document_id, org_id, opened, studied, parent_id "
                    "FROM document_unit_reads UNION ALL "
                    "SELECT 'branch', document_id, branch_id, opened, studied, NULL "
                    "FROM document_branch_reads ORDER BY 1, 2, 3"
                )
            )
            return [tuple(row) for row in rows]

    seeded = await counters()
    assert any(row[3] for row in seeded), seeded  # the demo's two receipts count
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE document_unit_reads SET opened = opened + 7, parent_id = NULL")
        )
        await conn.execute(text("DELETE FROM document_branch_reads"))
    assert await counters() != seeded

    result = await run_cli("db", "recount", cwd=tmp_path, DATABASE_URL=cli_database.url)

    assert result.returncode == 0, result.output
    assert "recounted the coverage counters" in result.output
    assert await counters() == seeded


async def test_seed_again_leaves_existing_data_alone(
    cli_database: CliDatabase, tmp_path: Path
) -> None:
    for args in (("db", "upgrade"), ("seed",)):
        first = await run_cli(*args, cwd=tmp_path, DATABASE_URL=cli_database.url)
        assert first.returncode == 0, first.output
    members = await count(cli_database.engine, "SELECT count(*) FROM member")

    result = await run_cli("seed", cwd=tmp_path, DATABASE_URL=cli_database.url)

    assert result.returncode == 0, result.output
    assert "demo data not added" in result.output
    assert await count(cli_database.engine, "SELECT count(*) FROM member") == members


async def test_openapi_export_check_passes_on_committed_file(tmp_path: Path) -> None:
    result = await run_cli("openapi", "export", "--check", cwd=tmp_path)

    assert result.returncode == 0, result.output
    assert "up to date" in result.output


async def test_api_in_prod_without_secret_refuses_to_start(tmp_path: Path) -> None:
    result = await run_cli("api", "--port", "0", cwd=tmp_path, ENV="prod")

    assert result.returncode == 2, result.output
    assert "refusing to start" in result.output
    assert "AUTH__SECRET_KEY" in result.output
    assert not (tmp_path / "var" / "dev-secret").exists()


async def test_init_sets_up_a_deployment_once(cli_database: CliDatabase, tmp_path: Path) -> None:
    upgrade = await run_cli("db", "upgrade", cwd=tmp_path, DATABASE_URL=cli_database.url)
    assert upgrade.returncode == 0, upgrade.output
    args = (
        "init",
        "--org-name",
        "Đảng bộ tỉnh Lâm Đồng",
        "--org-code",
        "LD",
        "--admin-name",
        "Nguyễn Văn Quản",
        "--admin-phone",
        "0912 000 111",
        "--quorum-ratio",
        "0.75",
    )

    first = await run_cli(
        *args, cwd=tmp_path, DATABASE_URL=cli_database.url, RULES__STUDY_POINTS_TARGET="180"
    )
    second = await run_cli(*args, cwd=tmp_path, DATABASE_URL=cli_database.url)

    assert first.returncode == 0, first.output
    assert "deployment admin" in first.output
    assert "next steps" in first.output
    assert second.returncode == 1
    assert "deployment.already_initialised" in second.output
    assert "--update-rules" in second.output
    engine = cli_database.engine
    # The rules live in the database: flags over RULES__* defaults, audited.
    assert await rules_of(engine) == {"quorum_ratio": 0.75, "study_points_target": 180}
    update = await run_cli(
        "init", "--update-rules", "--pass-ratio", "0.6", "--study-target", "250",
        "--points-meeting", "12",
        cwd=tmp_path, DATABASE_URL=cli_database.url,
    )  # fmt: skip
    assert update.returncode == 0, update.output
    assert await stored_rule(engine, "study_points_meeting") == 12
    # Only what the flags name changes: the quorum stays as the first run set it.
    assert await rules_of(engine) == {"quorum_ratio": 0.75, "study_points_target": 250}
    assert (
        await count(engine, "SELECT count(*) FROM audit_event WHERE action = 'deployment.rules'")
        == 2
    )
    bad = await run_cli(
        "init", "--update-rules", "--quorum-ratio", "1.5", cwd=tmp_path,
        DATABASE_URL=cli_database.url,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "quorum_ratio" in bad.output
    assert await rules_of(engine) == {"quorum_ratio": 0.75, "study_points_target": 250}
    assert await count(engine, "SELECT count(*) FROM org") == 2
    assert (
        await count(
            engine,
            "SELECT count(*) FROM role_grant g JOIN member m ON m.id = g.member_id "
            "WHERE g.role = 'deployment_admin' AND m.phone = '+84912000111'",
        )
        == 1
    )


async def stored_rule(engine: AsyncEngine, name: str) -> object:
    async with engine.connect() as conn:
        value = (
            await conn.execute(text("SELECT value FROM deployment_setting WHERE key = 'rules'"))
        ).scalar_one()
    return (value if isinstance(value, dict) else json.loads(value))[name]


async def rules_of(engine: AsyncEngine) -> dict[str, float]:
    async with engine.connect() as conn:
        value = (
            await conn.execute(text("SELECT value FROM deployment_setting WHERE key = 'rules'"))
        ).scalar_one()
    document = value if isinstance(value, dict) else json.loads(value)
    return {
        "quorum_ratio": round(document["quorum_ratio"], 4),
        "study_points_target": document["study_points_target"],
    }


async def test_init_in_a_script_needs_its_options(tmp_path: Path) -> None:
    result = await run_cli("init", "--org-name", "Đảng bộ tỉnh X", cwd=tmp_path)
    assert result.returncode == 2
    assert "--admin-name is required" in result.output


async def test_init_refuses_a_bad_phone(tmp_path: Path) -> None:
    result = await run_cli(
        "init",
        "--org-name",
        "Đảng bộ tỉnh X",
        "--admin-name",
        "A B",
        "--admin-phone",
        "123",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Số điện thoại không hợp lệ" in result.output


async def test_admin_grant_restores_a_deployment_admin(
    cli_database: CliDatabase, tmp_path: Path
) -> None:
    url = cli_database.url
    for args in (("db", "upgrade"), ("seed",)):
        done = await run_cli(*args, cwd=tmp_path, DATABASE_URL=url)
        assert done.returncode == 0, done.output
    engine = cli_database.engine
    async with engine.begin() as conn:  # the only admin lost their role and their account
        await conn.execute(
            text(
                "UPDATE role_grant SET revoked_at = CURRENT_TIMESTAMP WHERE role = "
                "'deployment_admin'"
            )
        )
        await conn.execute(text("UPDATE member SET is_locked = true WHERE phone = '+84900000009'"))

    result = await run_cli(
        "admin", "grant", "--phone", "0900 000 009", "--unlock", cwd=tmp_path, DATABASE_URL=url
    )

    assert result.returncode == 0, result.output
    live_admins = (
        "SELECT count(*) FROM role_grant g JOIN member m ON m.id = g.member_id WHERE "
        "g.role = 'deployment_admin' AND g.revoked_at IS NULL AND m.phone = '+84900000009' "
        "AND NOT m.is_locked AND g.org_id = (SELECT id FROM org WHERE parent_id IS NULL)"
    )
    assert await count(engine, live_admins) == 1
    assert (
        await count(
            engine,
            "SELECT count(*) FROM audit_event WHERE actor_id IS NULL AND action IN "
            "('role.grant', 'member.unlock')",
        )
        == 2
    )
    unknown = await run_cli(
        "admin", "grant", "--phone", "0900 999 999", cwd=tmp_path, DATABASE_URL=url
    )
    assert unknown.returncode == 1
    assert "member.not_found" in unknown.output


async def test_worker_check_reads_this_hosts_heartbeat(
    cli_database: CliDatabase, tmp_path: Path
) -> None:
    import socket
    from datetime import timedelta

    from sqlalchemy import insert

    from app.models import WorkerHeartbeat
    from app.models.base import utcnow

    upgrade = await run_cli("db", "upgrade", cwd=tmp_path, DATABASE_URL=cli_database.url)
    assert upgrade.returncode == 0, upgrade.output
    missing = await run_cli("worker", "--check", cwd=tmp_path, DATABASE_URL=cli_database.url)
    assert missing.returncode == 1, missing.output
    assert "no fresh worker heartbeat" in missing.output
    now = utcnow()
    for worker_id, seen in (("stale", now - timedelta(hours=1)), ("fresh", now)):
        async with cli_database.engine.begin() as conn:
            await conn.execute(
                insert(WorkerHeartbeat).values(
                    id=worker_id,
                    hostname=socket.gethostname(),
                    pid=1,
                    started_at=seen,
                    seen_at=seen,
                )
            )
        result = await run_cli("worker", "--check", cwd=tmp_path, DATABASE_URL=cli_database.url)
        assert result.returncode == (0 if worker_id == "fresh" else 1), result.output


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_demo_serves_on_host_and_port_from_the_environment_without_a_banner(
    tmp_path: Path,
) -> None:
    port = _free_port()
    log = (tmp_path / "demo.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "demo",
        cwd=tmp_path,
        env=cli_environment(
            tmp_path,
            HOST="127.0.0.1",
            PORT=str(port),
            DATABASE_URL=f"sqlite:///{tmp_path / 'd.db'}",
        ),
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    response: httpx.Response | None = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(60 * 4):
                if process.returncode is not None:
                    break
                try:
                    response = await client.get("/healthz", timeout=2)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.25)
    finally:
        if process.returncode is None:
            process.terminate()  # the demo we started, by its own pid
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()
    output = (tmp_path / "demo.log").read_text(errors="replace")
    assert response is not None, output
    assert response.status_code == 200
    assert "server" not in response.headers  # no `server: uvicorn` banner


async def test_export_tree_and_import_tree_report_conflicts_and_change_nothing(
    cli_database: CliDatabase, tmp_path: Path
) -> None:
    """The demo province exported and brought back into the same deployment: every member is
    already here (by card number), so the import lists the conflicts and writes nothing."""
    for args in (("db", "upgrade"), ("seed",)):
        done = await run_cli(*args, cwd=tmp_path, DATABASE_URL=cli_database.url)
        assert done.returncode == 0, done.output
    engine = cli_database.engine
    root = await count(engine, "SELECT min(id) FROM org WHERE parent_id IS NULL")
    orgs = await count(engine, "SELECT count(*) FROM org")
    out = tmp_path / "tree.json"
    exported = await run_cli(
        "export-tree",
        "--org",
        str(root),
        "--out",
        str(out),
        cwd=tmp_path,
        DATABASE_URL=cli_database.url,
    )
    assert exported.returncode == 0, exported.output
    assert f"exported {orgs} orgs" in exported.output
    imported = await run_cli(
        "import-tree",
        str(out),
        "--under",
        str(root),
        cwd=tmp_path,
        DATABASE_URL=cli_database.url,
    )
    assert imported.returncode == 1, imported.output
    assert "conflicts: nothing imported" in imported.output
    assert "conflict: card" in imported.output
    assert await count(engine, "SELECT count(*) FROM org") == orgs
