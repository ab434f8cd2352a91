"""Upgrades while the previous version serves traffic (expand → migrate → contract, see
docs/architecture.md "Migrations").

- The previous release's code (the newest commit in this checkout's history whose migration
  head is the parent of today's head, found through git, never hard-coded) serves reads from a
  database at that head holding its own demo data, while today's `handbook db upgrade` takes the
  database to the new head: no 5xx before, during or after.
- A CI-cheap lint: no migration's `upgrade()` drops or renames a column or a table unless the
  migration says `# contract: <reason>` (a contract step ships a release after the code that
  stopped using what it removes).

Limits, stated: the previous code runs on today's installed dependencies (its own lock file is
not installed), and "the previous release" is the previous migration head until releases are
tagged.
"""

from __future__ import annotations

import ast
import asyncio
import io
import re
import secrets
import subprocess
import sys
import tarfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.core.migrate import alembic_config
from app.services.seed import DEMO_ACCOUNTS, DEMO_PASSWORD
from tests import dbs, processes
from tests.conftest import database_params

ROOT = processes.PROJECT_ROOT
VERSIONS = "migrations/versions"
_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - git with our own arguments
        ["git", *args],  # noqa: S607 - git from the PATH, as developers run it
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _heads_at(commit: str) -> set[str]:
    """The migration heads of the tree at `commit`, read from its revision files."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for name in _git("ls-tree", "--name-only", f"{commit}:{VERSIONS}").split():
        if not name.endswith(".py"):
            continue
        source = _git("show", f"{commit}:{VERSIONS}/{name}")
        if found := _REVISION.search(source):
            revisions.add(found.group(1))
        if down := _DOWN.search(source):
            parents |= set(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    return revisions - parents


def previous_release() -> tuple[str, str, str]:
    """(previous head, head, the newest commit whose head was the previous head)."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    assert head is not None
    revision = script.get_revision(head)
    assert revision is not None
    parent = revision.down_revision
    if not isinstance(parent, str):
        pytest.skip(f"the newest revision {head} has no single parent ({parent!r})")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the previous code cannot be read")
    for commit in _git("log", "--format=%H", "--", VERSIONS).split():
        if _heads_at(commit) == {parent}:
            return parent, head, commit
    pytest.skip(
        f"no commit in this checkout's history has {parent} as its migration head "
        "(a shallow clone?)"
    )


def _extract(commit: str, into: Path) -> Path:
    archive = subprocess.run(  # noqa: S603
        ["git", "archive", "--format=tar", commit, "app", "migrations", "pyproject.toml"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


class Reads:
    """Reads in a loop on another thread, each answer's status counted under the phase it was
    sent in."""

    def __init__(self, base_url: str, headers: dict[str, str], paths: list[str]) -> None:
        self.phase = "before"
        self.seen: dict[str, Counter[int]] = {}
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base_url, headers, paths))

    def _run(self, base_url: str, headers: dict[str, str], paths: list[str]) -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
            n = 0
            while not self._stop.is_set():
                path, phase = paths[n % len(paths)], self.phase
                n += 1
                try:
                    status = client.get(path).status_code
                except httpx.TransportError as exc:
                    status = 599
                    self.failures.append(f"{phase} {path}: {type(exc).__name__}")
                self.seen.setdefault(phase, Counter())[status] += 1
                if status >= 500:
                    self.failures.append(f"{phase} {path}: {status}")

    def start(self) -> None:
        self._thread.start()

    def wait_for(self, phase: str, count: int, deadline_s: float = 60) -> None:
        give_up = time.monotonic() + deadline_s
        while sum(self.seen.get(phase, Counter()).values()) < count:
            assert time.monotonic() < give_up, f"too few reads {phase}: {self.seen}"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def _reads_through_the_upgrade(
    old_env: dict[str, str], env: dict[str, str], branch_id: int, tmp_path: Path
) -> Reads:
    """The previous code's API serving a member's home and a members page in a loop, before,
    during and after today's `handbook db upgrade`."""
    port = processes.free_port()
    api = processes.start(["api", "--port", str(port)], old_env, tmp_path / "previous.log")
    reads: Reads | None = None
    try:
        ready = processes.wait_ready(port, api)
        assert ready is not None, "the previous API did not start:\n" + processes.logs(tmp_path)
        base_url = f"http://127.0.0.1:{port}"
        login = httpx.post(
            f"{base_url}/api/v1/auth/password/login",
            json={"phone": DEMO_ACCOUNTS[1].phone, "password": DEMO_PASSWORD},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        reads = Reads(
            base_url,
            bearer,
            ["/api/v1/me/home", f"/api/v1/orgs/{branch_id}/members?limit=20"],
        )
        reads.start()
        reads.wait_for("before", 4)
        reads.phase = "during"
        upgraded = subprocess.run(
            [sys.executable, "-m", "app.cli", "db", "upgrade"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert upgraded.returncode == 0, upgraded.stdout[-2000:] + upgraded.stderr[-2000:]
        reads.phase = "after"
        reads.wait_for("after", 6)
    finally:
        if reads is not None:
            reads.stop()
        processes.stop([api])
    assert reads is not None
    return reads


@pytest.mark.parametrize("kind", database_params())
async def test_the_previous_code_serves_reads_while_the_database_is_upgraded(
    kind: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> None:
    previous, head, commit = previous_release()
    old_code = _extract(commit, tmp_path / "previous")
    old_revisions = {
        found.group(1)
        for path in (old_code / VERSIONS).glob("*.py")
        for found in _REVISION.finditer(path.read_text(encoding="utf-8"))
    }
    assert previous in old_revisions
    assert head not in old_revisions  # really the code from before the newest migration
    async with dbs.fresh_database(kind, f"upgrade_{worker_id}", tmp_path_factory) as (
        url,
        engine,
    ):
        await dbs.migrate(engine, "upgrade", previous)
        env = processes.clean_env(
            ENV="prod",
            DATABASE_URL=url,
            DATA_DIR=str(tmp_path / "data"),
            AUTH__SECRET_KEY=secrets.token_urlsafe(48),
            SMS__GATEWAY="http",
            SMS__URL="http://127.0.0.1:9/send",
        )
        old_env = {**env, "PYTHONPATH": str(old_code)}
        seeded = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "app.cli", "seed"],
            cwd=old_code,
            env={**old_env, "ENV": "dev"},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert seeded.returncode == 0, seeded.stdout[-2000:] + seeded.stderr[-2000:]
        secretary = DEMO_ACCOUNTS[1].phone
        async with engine.connect() as conn:
            branch_id = await conn.scalar(
                text("SELECT branch_id FROM member WHERE phone = :phone"), {"phone": secretary}
            )
        assert branch_id is not None

        reads = await asyncio.to_thread(
            _reads_through_the_upgrade, old_env, env, branch_id, tmp_path
        )
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == head
    assert not reads.failures, f"{reads.failures[:10]}\n{processes.logs(tmp_path)}"
    statuses = {phase: set(counts) for phase, counts in reads.seen.items()}
    assert statuses.get("before") == statuses.get("after") == {200}, reads.seen
    assert statuses.get("during") == {200}, reads.seen  # the upgrade takes seconds: reads ran


# What a migration's upgrade() may not do in the release that changes the code using it.
_CONTRACT_CALLS = {"drop_column", "drop_table", "rename_table"}
_CONTRACT_SQL = re.compile(r"\b(DROP\s+(COLUMN|TABLE)|RENAME)\b", re.IGNORECASE)
_MARKED = re.compile(r"^\s*#\s*contract:\s*\S.{9,}", re.MULTILINE)  # a reason, not just the tag


def _contract_steps(source: str) -> list[str]:
    tree = ast.parse(source)
    found: list[str] = []
    for function in tree.body:
        if not (isinstance(function, ast.FunctionDef) and function.name == "upgrade"):
            continue
        for node in ast.walk(function):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name = node.func.attr
            renames = name == "alter_column" and any(
                k.arg == "new_column_name" for k in node.keywords
            )
            raw_sql = name == "execute" and any(
                isinstance(c, ast.Constant)
                and isinstance(c.value, str)
                and _CONTRACT_SQL.search(c.value)
                for arg in node.args
                for c in ast.walk(arg)
            )
            if name in _CONTRACT_CALLS or renames or raw_sql:
                found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_migrations_only_expand_unless_marked_contract() -> None:
    unmarked = {}
    for path in sorted((ROOT / VERSIONS).glob("*.py")):
        source = path.read_text(encoding="utf-8")
        steps = _contract_steps(source)
        if steps and not _MARKED.search(source):
            unmarked[path.name] = steps
    assert not unmarked, (
        "these upgrade() steps drop or rename what the previous release still reads; ship them "
        "one release after the code stops using it, in a migration marked "
        f"`# contract: <reason>` (docs/architecture.md, Migrations): {unmarked}"
    )


def test_the_contract_lint_sees_drops_and_renames() -> None:
    source = (
        "def upgrade():\n"
        "    with op.batch_alter_table('member') as batch_op:\n"
        "        batch_op.alter_column('phone', new_column_name='mobile')\n"
        "    op.execute('ALTER TABLE org DROP COLUMN code')\n"
        "    op.add_column('org', sa.Column('x', sa.Integer()))\n"
        "def downgrade():\n"
        "    op.drop_column('org', 'x')\n"
    )
    assert sorted(s.split(":")[0] for s in _contract_steps(source)) == ["line 3", "line 4"]
    assert not _MARKED.search(source)
    assert _MARKED.search("# contract: the code stopped reading org.code in 1.4\n" + source)
