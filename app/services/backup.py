"""Backup and restore of a deployment: the database and the locally stored files.

PostgreSQL is dumped with `pg_dump --format=custom` (consistent while the API serves) and
restored with `pg_restore` into an empty database; SQLite is copied with its online backup API.
Files of the local storage backend go into a tar archive beside the dump; S3-compatible storage
is backed up by the storage service itself (bucket versioning or replication), and the archive
then holds nothing. A manifest records what was saved, with SHA-256 sums checked on restore.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from app.core.config import Settings

MANIFEST = "manifest.json"
DATABASE_DUMP = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
FILES_ARCHIVE = "files.tar.gz"


class BackupError(RuntimeError):
    """Raised with a message for the operator."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    directory: Path
    database_bytes: int
    files: int


def _pg_url(settings: Settings) -> str:
    url = make_url(settings.database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _kind(settings: Settings) -> str:
    backend = make_url(settings.database_url).get_backend_name()
    if backend not in DATABASE_DUMP:
        raise BackupError(f"unsupported database: {backend}")
    return backend


def _run(args: list[str]) -> None:
    tool = shutil.which(args[0])
    if tool is None:
        raise BackupError(f"{args[0]} is not installed (PostgreSQL client tools)")
    result = subprocess.run([tool, *args[1:]], capture_output=True, text=True, check=False)
    if result.returncode:
        raise BackupError(f"{args[0]} failed: {result.stderr.strip()[-500:]}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def create(settings: Settings, directory: Path) -> BackupResult:
    """Write a backup into `directory` (created; must be empty)."""
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty")
    directory.mkdir(parents=True, exist_ok=True)
    kind = _kind(settings)
    dump = directory / DATABASE_DUMP[kind]
    if kind == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-acl", f"--file={dump}",
              f"--dbname={_pg_url(settings)}"])  # fmt: skip
    else:
        source = sqlite3.connect(_sqlite_path(settings))
        target = sqlite3.connect(dump)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    files = 0
    archive = directory / FILES_ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        storage = settings.storage_dir
        if settings.storage.backend == "local" and storage.exists():
            for path in sorted(storage.rglob("*")):
                if path.is_file() and "tmp" not in path.relative_to(storage).parts[:1]:
                    tar.add(path, arcname=str(path.relative_to(storage)))
                    files += 1
    manifest = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": kind,
        "storage": settings.storage.backend,
        "files": files,
        "sha256": {dump.name: _sha256(dump), archive.name: _sha256(archive)},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return BackupResult(directory, dump.stat().st_size, files)


def restore(settings: Settings, directory: Path) -> BackupResult:
    """Restore the backup in `directory` into the configured, empty database and storage."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{directory} holds no readable {MANIFEST}") from exc
    kind = _kind(settings)
    if manifest.get("database") != kind:
        raise BackupError(f"the backup is of a {manifest.get('database')} database, not {kind}")
    for name, expected in manifest.get("sha256", {}).items():
        if _sha256(directory / name) != expected:
            raise BackupError(f"{name} does not match its checksum: the backup is damaged")
    dump = directory / DATABASE_DUMP[kind]
    if kind == "postgresql":
        _run(["pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction",
              f"--dbname={_pg_url(settings)}", str(dump)])  # fmt: skip
    else:
        target = _sqlite_path(settings)
        if target.exists() and target.stat().st_size:
            raise BackupError(f"{target} exists: restore into a new database file")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dump, target)
    storage = settings.storage_dir
    with tarfile.open(directory / FILES_ARCHIVE, "r:gz") as tar:
        members = tar.getmembers()
        if members and settings.storage.backend == "local":
            storage.mkdir(parents=True, exist_ok=True)
            tar.extractall(storage, filter="data")
    return BackupResult(directory, dump.stat().st_size, len(members))
