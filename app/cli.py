"""The `handbook` command."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from app.bench.cli import bench
from app.bench.push import bench_push
from app.core.config import Env, Settings, get_settings
from app.schemas.rules import RulesUpdate

if TYPE_CHECKING:
    from app.services.tree_transfer import ImportReport

PROJECT_ROOT = Path(__file__).resolve().parents[1]

cli = typer.Typer(help="Sổ tay đảng viên backend.", no_args_is_help=True, add_completion=False)
db_cli = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
openapi_cli = typer.Typer(help="The OpenAPI document.", no_args_is_help=True)
admin_cli = typer.Typer(help="Operator recovery (needs database access).", no_args_is_help=True)
config_cli = typer.Typer(help="The deployment's configuration.", no_args_is_help=True)
backup_cli = typer.Typer(help="Backup and restore (database and files).", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(openapi_cli, name="openapi")
cli.add_typer(admin_cli, name="admin")
cli.add_typer(config_cli, name="config")
cli.add_typer(backup_cli, name="backup")
cli.command()(bench)
cli.command("bench-push")(bench_push)
console = Console(stderr=True, soft_wrap=True)


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head), saying first what will be applied.
    Concurrent runs on PostgreSQL wait for each other (an advisory lock): the second finds the
    database at head."""
    from app.core import migrate

    url = get_settings().database_url
    steps = migrate.pending(url, revision)
    if not steps:
        console.print(f"the database is at {revision}: nothing to apply")
    for number, description in steps:
        console.print(f"will apply {number}: {description}")
    migrate.upgrade(url, revision)
    if steps:
        console.print(f"applied {len(steps)} migration(s)")


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Revert migrations down to REVISION (default: one step)."""
    from app.core import migrate

    migrate.downgrade(get_settings().database_url, revision)


@db_cli.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    from app.core import migrate

    migrate.current(get_settings().database_url)


@db_cli.command("recount")
def db_recount() -> None:
    """Recount the counters kept beside the data (a document's readers per branch and unit, for
    its coverage report) from the rows they count, in one transaction, while the API serves. Run
    it once every API process runs this release after an upgrade across revision 0820 or 0840
    (the previous release counted receipts per branch only, or added unit counters without their
    parent), or whenever a report looks off."""
    started = time.perf_counter()
    asyncio.run(_recount(get_settings()))
    console.print(f"recounted the coverage counters in {time.perf_counter() - started:.1f} s")


async def _recount(settings: Settings) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.core.db import create_engine
    from app.services.content import coverage

    engine = create_engine(settings, null_pool=True)
    try:
        async with AsyncSession(engine) as session, session.begin():
            await coverage.recount(session)
    finally:
        await engine.dispose()


@openapi_cli.command("export")
def openapi_export(
    check: Annotated[bool, typer.Option(help="Fail if the committed file is stale.")] = False,
) -> None:
    """Write openapi/openapi.json from the code (deterministic)."""
    from app.api.openapi import OPENAPI_PATH, export_openapi, render_openapi
    from app.main import create_app

    app = create_app(Settings(env=Env.TEST))
    if check:
        current = OPENAPI_PATH.read_text(encoding="utf-8") if OPENAPI_PATH.exists() else ""
        if current != render_openapi(app):
            console.print("openapi/openapi.json is stale: run `handbook openapi export`")
            raise typer.Exit(1)
        console.print("openapi/openapi.json is up to date")
        return
    path = export_openapi(app)
    console.print(f"wrote {path.relative_to(PROJECT_ROOT)}")


@config_cli.command("reference")
def config_reference(
    check: Annotated[bool, typer.Option(help="Fail if the committed file is stale.")] = False,
) -> None:
    """Write docs/configuration.md (every setting: type, default, meaning) from the code."""
    from app.core.config_doc import REFERENCE_PATH, missing_meanings, render_reference

    missing = missing_meanings()
    if missing:
        console.print(f"settings without a comment in app/core/config.py: {', '.join(missing)}")
        raise typer.Exit(1)
    rendered = render_reference()
    if check:
        current = REFERENCE_PATH.read_text(encoding="utf-8") if REFERENCE_PATH.exists() else ""
        if current != rendered:
            console.print("docs/configuration.md is stale: run `handbook config reference`")
            raise typer.Exit(1)
        console.print("docs/configuration.md is up to date")
        return
    REFERENCE_PATH.write_text(rendered, encoding="utf-8")
    console.print(f"wrote {REFERENCE_PATH.relative_to(PROJECT_ROOT)}")


@backup_cli.command("create")
def backup_create(
    directory: Annotated[Path, typer.Argument(help="A new or empty directory.")],
) -> None:
    """Back up the database (pg_dump, or SQLite's online backup) and the local files, with a
    manifest of checksums."""
    from app.services import backup

    try:
        result = backup.create(get_settings(), directory)
    except backup.BackupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(
        f"backed up the database ({result.database_bytes} bytes) and {result.files} file(s) "
        f"into {result.directory}"
    )


@backup_cli.command("restore")
def backup_restore(
    directory: Annotated[Path, typer.Argument(help="A directory made by `backup create`.")],
) -> None:
    """Restore a backup into the configured database (empty, migrations not applied) and
    storage. Checksums are verified first; a restore into a database that holds data fails
    and changes nothing."""
    from app.services import backup

    try:
        result = backup.restore(get_settings(), directory)
    except backup.BackupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"restored the database and {result.files} file(s) from {result.directory}")


@config_cli.command("check")
def config_check(
    timeout: Annotated[float, typer.Option(help="Seconds per probe.", min=0.1)] = 5.0,
) -> None:
    """Validate this environment before the API starts: settings, database, Redis, storage, SMS,
    Firebase. Exits 1 when anything would stop the deployment."""
    from app.services.config_check import Level, check

    settings = get_settings()
    findings = asyncio.run(check(settings, timeout_s=timeout))
    colour = {Level.OK: "green", Level.WARNING: "yellow", Level.ERROR: "red"}
    for finding in findings:
        tag = f"[{colour[finding.level]}]{finding.level.value:<7}[/{colour[finding.level]}]"
        console.print(f"{tag} {finding.subject}: {finding.message}")
    errors = sum(finding.level is Level.ERROR for finding in findings)
    warnings = sum(finding.level is Level.WARNING for finding in findings)
    console.print(f"{errors} error(s), {warnings} warning(s)")
    if errors:
        raise typer.Exit(1)


async def _seed(settings: Settings, members: int | None) -> str:
    from app.core.db import create_engine
    from app.core.security import PasswordHasher
    from app.services import seed as seed_service

    engine = create_engine(settings, null_pool=True)
    try:
        if members is None:
            if not await seed_service.is_empty(engine):
                return "the database already holds orgs: demo data not added"
            hashed = await PasswordHasher(settings.auth).hash(seed_service.DEMO_PASSWORD)
            result = await seed_service.seed_demo(engine, password_hash=hashed)
        else:
            result = await seed_service.seed_generated(
                engine,
                members=members,
                progress=console.print,
                rules=settings.rules,
                worker=settings.worker,
            )
        return (
            f"seeded {result.orgs} orgs ({result.branches} branches), {result.members} members, "
            f"{result.grants} roles"
        )
    finally:
        await engine.dispose()


@cli.command()
def seed(
    members: Annotated[
        int | None,
        typer.Option(
            help="Generate a province of this many members, Hà Nội's shape (476000 is Hà Nội's "
            "size; default: the demo).",
            min=1,
            max=2_000_000,
        ),
    ] = None,
) -> None:
    """Add the demo province (or a generated one of MEMBERS members) to the database."""
    settings = get_settings().with_dev_secret()
    console.print(asyncio.run(_seed(settings, members)))


async def _import_file(
    settings: Settings,
    path: Path,
    org: int,
    by: int | None,
    dry_run: bool,
    allow_transfers: bool = False,
) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from app.resources import Resources
    from app.services.imports.runs import APPLY_JOB, CHECK_JOB
    from app.worker import import_file

    resources = Resources.build(settings)
    try:
        import_id = await import_file.start(
            resources, path, org, by, allow_transfers=allow_transfers
        )
        console.print(f"import {import_id}: checking {path.name} for org {org}")
        phases = [("kiểm tra thử (dry run)", CHECK_JOB)]
        if not dry_run:
            phases.append(("cập nhật (apply)", APPLY_JOB))
        for label, kind in phases:
            if kind == APPLY_JOB:
                await import_file.apply(resources, import_id, by)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=None),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task(label, total=None, counts="")

                def show(counts: dict[str, object], task: object = task) -> None:
                    bar.update(task, counts=_counts_text(counts))  # type: ignore[arg-type]

                result = await import_file.run_phase(resources, import_id, kind, show)
            console.print(
                f"{label}: {result.status} in {result.seconds:.1f} s: {_counts_text(result.counts)}"
            )
            if result.status == "failed":
                console.print(f"[red]{result.error}[/red]")
                return 1
        return 0
    finally:
        await resources.aclose()


def _counts_text(counts: dict[str, object]) -> str:
    labels = ("rows", "created", "updated", "transferred", "unchanged", "rejected", "missing")
    return ", ".join(f"{k} {counts[k]}" for k in labels if k in counts)


@cli.command("import")
def import_members(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    org: Annotated[int, typer.Option(help="The org to import into.", min=1)],
    dry_run: Annotated[bool, typer.Option(help="Check and report only; change nothing.")] = False,
    by: Annotated[
        int | None, typer.Option(help="Member id the import is made as (default: an admin).")
    ] = None,
    allow_transfers: Annotated[
        bool,
        typer.Option(
            help="A card number of a member of another branch moves that member (a transfer "
            "with history) when BY may manage members of both branches; refused otherwise."
        ),
    ] = False,
) -> None:
    """Import members from the national member database's .xlsx or .csv export: a dry run,
    then (unless --dry-run) the apply; the report is kept with the import."""
    settings = get_settings()
    raise typer.Exit(asyncio.run(_import_file(settings, file, org, by, dry_run, allow_transfers)))


async def _initialise(
    settings: Settings, given: dict[str, object], *, update_rules: bool, **fields: str | None
) -> str:
    """Create the deployment (unless `update_rules`) and write its rules: the flags `given` over
    the current rules (update) or the RULES__* defaults (first run)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.core.db import create_engine
    from app.services import deployment, deployment_settings
    from app.services import rules as rules_service

    engine = create_engine(settings, null_pool=True)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            done = None
            if not update_rules:
                done = await deployment.initialise(session, **fields)  # type: ignore[arg-type]
            cache = deployment_settings.new_cache()
            base = await rules_service.read(session, cache, settings.rules)
            base.pop("version")
            rules = RulesUpdate.model_validate(base | given)
            await rules_service.replace(
                session,
                None,
                rules,
                settings=settings.rules,
                if_match=None,
                cache=cache,
            )
    finally:
        await engine.dispose()
    summary = ", ".join(f"{k}={v}" for k, v in rules.model_dump(mode="json").items())
    if done is None:
        return f"rules updated (recorded in the audit log): {summary}"
    return (
        f"created root org {done.root_id}, branch {done.branch_id} and deployment admin "
        f"{done.admin_id}; rules: {summary}\n"
        "next steps:\n"
        "  1. handbook config check      (fix every error)\n"
        "  2. handbook api / handbook worker (or docker compose up -d)\n"
        "  3. the admin logs in with that phone (SMS code) and builds the tree, members and "
        "roles through the API or the admin web app (or imports the member spreadsheet)\n"
        "  the rules are edited from now on by the deployment admin (PUT /api/v1/rules)"
    )


@cli.command()
def init(
    org_name: Annotated[
        str | None, typer.Option(help='Root org, e.g. "Đảng bộ tỉnh Lâm Đồng" (asked if missing).')
    ] = None,
    admin_name: Annotated[
        str | None, typer.Option(help="Full name of the first deployment admin (asked if missing).")
    ] = None,
    admin_phone: Annotated[
        str | None, typer.Option(help="Their mobile number, to log in with (asked if missing).")
    ] = None,
    org_code: Annotated[str | None, typer.Option(help="Short code of the root org.")] = None,
    branch_name: Annotated[
        str, typer.Option(help="The admin's branch, created under the root.")
    ] = "Chi bộ Văn phòng",
    quorum_ratio: Annotated[
        float | None, typer.Option(help="Share of the summoned who make a quorum [RULES__].")
    ] = None,
    pass_ratio: Annotated[
        float | None, typer.Option(help="A motion passes above this share of votes [RULES__].")
    ] = None,
    reminder_at: Annotated[
        str | None, typer.Option(help="HH:MM of the reminder the day before a meeting [RULES__].")
    ] = None,
    reminder_hours_before: Annotated[
        int | None, typer.Option(help="Hours before a meeting for the second reminder [RULES__].")
    ] = None,
    absence_flag_after: Annotated[
        int | None, typer.Option(help="Absences in a row before a member is flagged [RULES__].")
    ] = None,
    study_target: Annotated[
        int | None, typer.Option(help="Study points a member should earn a year [RULES__].")
    ] = None,
    points_document: Annotated[
        int | None, typer.Option(help="Study points for a document studied [RULES__].")
    ] = None,
    points_meeting: Annotated[
        int | None, typer.Option(help="Study points for a meeting attended [RULES__].")
    ] = None,
    points_quiz: Annotated[
        int | None, typer.Option(help="Study points for passing a quiz [RULES__].")
    ] = None,
    update_rules: Annotated[
        bool,
        typer.Option(
            "--update-rules",
            help="On an initialised database: only write the rules (audited), create nothing.",
        ),
    ] = False,
) -> None:
    """Set up a new deployment: root org, the admin's branch, the first deployment admin and the
    deployment's rules (from RULES__* unless given). Refuses a second run on the same database;
    `--update-rules` rewrites only the rules."""
    from pydantic import ValidationError

    from app.core.errors import AppError
    from app.core.phone import InvalidPhone, normalise_phone
    from app.services import rules as rules_service

    settings = get_settings()
    given: dict[str, object] = {
        "quorum_ratio": quorum_ratio,
        "pass_ratio": pass_ratio,
        "reminder_day_before_at": reminder_at,
        "reminder_hours_before": reminder_hours_before,
        "absence_flag_after": absence_flag_after,
        "study_points_target": study_target,
        "study_points_document": points_document,
        "study_points_meeting": points_meeting,
        "study_points_quiz": points_quiz,
    }
    flags = {k: v for k, v in given.items() if v is not None}
    try:  # checked before anything is written (and again over the stored rules)
        RulesUpdate.model_validate(rules_service.defaults(settings.rules) | flags)
    except ValidationError as exc:
        for error in exc.errors():
            console.print(f"[red]{'.'.join(map(str, error['loc']))}: {error['msg']}[/red]")
        raise typer.Exit(2) from exc
    phone = None
    if not update_rules:
        org_name = org_name or _ask("Root org (e.g. Đảng bộ tỉnh Lâm Đồng)", "--org-name")
        admin_name = admin_name or _ask("The first deployment admin's full name", "--admin-name")
        admin_phone = admin_phone or _ask("Their mobile number", "--admin-phone")
        try:
            phone = normalise_phone(admin_phone)
        except InvalidPhone as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    try:
        message = asyncio.run(
            _initialise(
                settings,
                flags,
                update_rules=update_rules,
                org_name=org_name,
                org_code=org_code,
                branch_name=branch_name,
                admin_name=admin_name,
                admin_phone=phone,
            )
        )
    except AppError as exc:
        hint = ""
        if exc.code == "deployment.already_initialised":
            hint = " (to change only the rules: handbook init --update-rules …)"
        console.print(f"[red]{exc.detail}[/red] ({exc.code}){hint}")
        raise typer.Exit(1) from exc
    console.print(message)


def _ask(question: str, option: str) -> str:
    """Ask on a terminal; elsewhere (scripts, containers) the option is required."""
    import sys

    if not sys.stdin.isatty():
        console.print(f"[red]{option} is required[/red] (or run `handbook init` on a terminal)")
        raise typer.Exit(2)
    answer: str = typer.prompt(question).strip()
    return answer


async def _grant_admin(settings: Settings, phone: str, *, unlock: bool) -> int:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.core.db import create_engine
    from app.services import deployment

    engine = create_engine(settings, null_pool=True)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            return await deployment.grant_admin(session, phone=phone, unlock=unlock)
    finally:
        await engine.dispose()


@admin_cli.command("grant")
def admin_grant(
    phone: Annotated[str, typer.Option(help="The member's mobile number.")],
    unlock: Annotated[bool, typer.Option(help="Also unlock their account.")] = False,
) -> None:
    """Make a member a deployment admin on the root org again (when none is left who can log
    in). Written to the audit log as done from the command line."""
    from app.core.errors import AppError
    from app.core.phone import InvalidPhone, normalise_phone

    try:
        normalised = normalise_phone(phone)
    except InvalidPhone as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        grant_id = asyncio.run(_grant_admin(get_settings(), normalised, unlock=unlock))
    except AppError as exc:
        console.print(f"[red]{exc.detail}[/red] ({exc.code})")
        raise typer.Exit(1) from exc
    console.print(
        f"{normalised} is a deployment admin (grant {grant_id}); recorded in the audit log"
    )


@cli.command("export-tree")
def export_tree(
    org: Annotated[int, typer.Option(help="The org whose subtree is exported.", min=1)],
    out: Annotated[Path, typer.Option(help="The JSON file to write.")],
) -> None:
    """Write an org's subtree with its members, roles and membership history to a JSON file,
    for `import-tree` in another deployment (two provinces that merge)."""
    import json

    from app.core.errors import AppError

    try:
        data = asyncio.run(_tree_export(get_settings(), org))
    except AppError as exc:
        console.print(f"[red]{exc.detail}[/red] ({exc.code})")
        raise typer.Exit(1) from exc
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    console.print(
        f"exported {len(data['orgs'])} orgs, {len(data['members'])} members, "
        f"{len(data['roles'])} roles, {len(data['periods'])} periods to {out}"
    )


@cli.command("import-tree")
def import_tree(
    file: Annotated[Path, typer.Argument(help="A file written by `handbook export-tree`.")],
    under: Annotated[int, typer.Option(help="The org the imported tree goes under.", min=1)],
    dry_run: Annotated[bool, typer.Option(help="Report conflicts, write nothing.")] = False,
) -> None:
    """Bring an exported tree under an org of this deployment, keyed by party card number. Any
    conflict (a card number, phone or org code already here) is reported and nothing is
    written; otherwise everything is written in one transaction."""
    import json

    from app.core.errors import AppError

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        report = asyncio.run(_tree_import(get_settings(), data, under, dry_run=dry_run))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        console.print(f"[red]cannot read {file}: {exc}[/red]")
        raise typer.Exit(2) from exc
    except AppError as exc:
        console.print(f"[red]{exc.detail}[/red] ({exc.code})")
        raise typer.Exit(1) from exc
    for conflict in report.conflicts:
        console.print(f"conflict: {conflict}")
    if report.conflicts:
        console.print(f"[red]{len(report.conflicts)} conflicts: nothing imported[/red]")
        raise typer.Exit(1)
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{verb} {report.orgs} orgs, {report.members} members, {report.roles} roles, "
        f"{report.periods} periods under org {under}"
    )


async def _tree_export(settings: Settings, org_id: int) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.core.db import create_engine
    from app.services import tree_transfer

    engine = create_engine(settings, null_pool=True)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            return await tree_transfer.export_tree(session, org_id)
    finally:
        await engine.dispose()


async def _tree_import(
    settings: Settings, data: dict[str, Any], under: int, *, dry_run: bool
) -> ImportReport:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.core.db import create_engine
    from app.services import tree_transfer

    engine = create_engine(settings, null_pool=True)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            report = await tree_transfer.import_tree(session, data, under, dry_run=dry_run)
            if report.ok and not dry_run:
                await session.commit()
            else:
                await session.rollback()
            return report
    finally:
        await engine.dispose()


def _serve(host: str, port: int, workers: int, *, forwarded_allow_ips: str | None) -> None:
    import uvicorn

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="handbook-metrics-")
    uvicorn.run(
        "app.main:build_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,  # no `server: uvicorn` banner
        timeout_graceful_shutdown=20,
    )


@cli.command()
def api(
    host: Annotated[str, typer.Option(envvar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT")] = 8000,
    workers: Annotated[int, typer.Option(envvar="WEB_CONCURRENCY", min=1, max=64)] = 1,
    migrate: Annotated[bool, typer.Option(help="Run `db upgrade` first.")] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            envvar="FORWARDED_ALLOW_IPS",
            help="Proxy addresses whose X-Forwarded-For is trusted (e.g. 10.0.0.0/8).",
        ),
    ] = None,
) -> None:
    """Serve the API with uvicorn."""
    from app.core.config import ConfigError
    from app.core.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log.level, json_format=settings.log.json_format)
    try:
        settings.with_dev_secret().checked()
    except ConfigError as exc:
        console.print(f"[red]refusing to start:[/red] {exc}")
        raise typer.Exit(2) from exc
    if migrate:
        db_upgrade("head")
    _serve(host, port, workers, forwarded_allow_ips=forwarded_allow_ips)


@cli.command()
def demo(
    host: Annotated[str, typer.Option(envvar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT")] = 8000,
) -> None:
    """Try it out: migrate the SQLite file, seed a demo province and serve (ENV=dev)."""
    os.environ["ENV"] = "dev"
    os.environ.setdefault("LOG__JSON_FORMAT", "false")
    os.environ.setdefault("LOG__ACCESS", "all")
    # Jobs and notices work on the first command: a worker runs inside the API process.
    os.environ.setdefault("WORKER__EMBEDDED", "true")
    get_settings.cache_clear()
    settings = get_settings().with_dev_secret()
    from app.core.logging import configure_logging
    from app.services.seed import DEMO_ACCOUNTS, DEMO_PASSWORD

    configure_logging(settings.log.level, json_format=settings.log.json_format)
    db_upgrade("head")
    console.print(asyncio.run(_seed(settings, None)))
    base = f"http://{host}:{port}"
    console.rule("[bold]Sổ tay đảng viên: demo province ready")
    console.print(f"API       {base}/api/v1    docs: [bold]{base}/docs[/bold]")
    console.print(f"Database  {settings.database_url}")
    console.print(
        "Log in with one of these phones (POST /api/v1/auth/otp/request, then /otp/verify):"
    )
    for account in DEMO_ACCOUNTS:
        console.print(f"  {account.phone}  {account.full_name:<18} {account.description}")
    console.print(
        "[bold yellow]OTP codes appear in this log[/bold yellow] (ENV=dev only; a real deployment "
        "sends them by SMS)."
    )
    console.print(
        f"Or POST /api/v1/auth/password/login with password [bold]{DEMO_PASSWORD}[/bold]."
    )
    console.rule()
    _serve(host, port, 1, forwarded_allow_ips=None)


async def _worker_alive(settings: Settings) -> bool:
    import socket
    from datetime import timedelta

    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.core.db import create_engine
    from app.models import WorkerHeartbeat
    from app.models.base import utcnow

    engine = create_engine(settings, null_pool=True)
    try:
        async with AsyncSession(engine) as session:
            fresh = utcnow() - timedelta(seconds=settings.worker.heartbeat_stale_s)
            count = await session.scalar(
                select(func.count()).where(
                    WorkerHeartbeat.hostname == socket.gethostname()[:255],
                    WorkerHeartbeat.seen_at > fresh,
                    WorkerHeartbeat.stopped_at.is_(None),
                )
            )
    finally:
        await engine.dispose()
    return bool(count)


async def _run_worker(settings: Settings, concurrency: int | None) -> None:
    import signal

    from app.resources import Resources
    from app.worker.runner import Worker

    resources = Resources.build(settings)
    try:
        worker = Worker(resources, concurrency=concurrency)
        stop = asyncio.Event()
        watchdog = _StopWatchdog(settings.worker.shutdown_grace_s + STOP_OVERRUN_S)

        def on_signal() -> None:
            stop.set()
            watchdog.start()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        await worker.run(stop)
        watchdog.clean = True
    finally:
        await resources.aclose()


STOP_OVERRUN_S = 20.0  # past the jobs' grace: releasing them, the last heartbeat, closing


class _StopWatchdog:
    """Bounds a stop: once asked to stop, the worker is gone within the jobs' grace plus
    STOP_OVERRUN_S, whatever hangs (a lock wait, a thread in a client library that never returns).
    An overrun dumps every thread's stack to stderr, so the hang can be found, then exits: 0 when
    the jobs were already handed back (only closing hung), 1 when they were not (their leases
    expire and another worker takes them: nothing is lost)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.clean = False
        self._started = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        import threading

        threading.Thread(target=self._watch, name="stop-watchdog", daemon=True).start()

    def _watch(self) -> None:
        import faulthandler
        import logging
        import os
        import sys
        import time

        time.sleep(self.seconds)
        logging.getLogger("app.worker").error(
            "worker did not stop in time; exiting", extra={"after_s": self.seconds}
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(0 if self.clean else 1)


@cli.command()
def worker(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 0 if a worker on this host has a fresh heartbeat, else 1 (healthcheck).",
        ),
    ] = False,
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs at once (default WORKER__CONCURRENCY).", min=1)
    ] = None,
) -> None:
    """Run background jobs: notices (inbox, push, SMS), reminders, housekeeping. Run as many as
    needed against one database; SIGTERM finishes or hands back the jobs in hand."""
    import signal

    def _stop_before_start(_signum: int, _frame: object) -> None:
        raise SystemExit(0)  # nothing claimed yet: a clean exit (the loop takes over SIGTERM)

    signal.signal(signal.SIGTERM, _stop_before_start)
    from app.core.config import ConfigError
    from app.core.logging import configure_logging

    settings = get_settings()
    if check:
        alive = asyncio.run(_worker_alive(settings))
        if not alive:
            console.print("no fresh worker heartbeat on this host")
        raise typer.Exit(0 if alive else 1)
    configure_logging(settings.log.level, json_format=settings.log.json_format)
    try:
        settings = settings.with_dev_secret().checked()
    except ConfigError as exc:
        console.print(f"[red]refusing to start:[/red] {exc}")
        raise typer.Exit(2) from exc
    if settings.worker.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker.metrics_port, addr=settings.worker.metrics_host)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.Runner()
    with runner:
        runner.run(_run_worker(settings, concurrency))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
