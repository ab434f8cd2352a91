#!/usr/bin/env python3
"""One entry point for a fresh machine with only Python 3.11+ and PyPI.

    python3 dev.py demo      # install, migrate an SQLite file, seed a demo province, serve
    python3 dev.py test      # install, run the whole suite (+ PostgreSQL if TEST_DATABASE_URL)
    python3 dev.py check     # ruff, ruff format --check, mypy
    python3 dev.py run ARGS  # any command in the project environment, e.g. `run handbook --help`

It bootstraps uv from PyPI into .tools/ when uv is not on the PATH, then `uv sync --frozen`
with the interpreter running this script (uv never downloads a Python build).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
UV_VERSION = "0.13.9"


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    bin_dir = TOOLS / ("Scripts" if os.name == "nt" else "bin")
    uv = bin_dir / ("uv.exe" if os.name == "nt" else "uv")
    if not uv.exists():
        print(f"bootstrapping uv {UV_VERSION} into {TOOLS.relative_to(ROOT)}/ ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        python = bin_dir / ("python.exe" if os.name == "nt" else "python")
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"], check=True
        )
    return str(uv)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("UV_PYTHON", sys.executable)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.setdefault("UV_PROJECT_ENVIRONMENT", str(ROOT / ".venv"))
    return env


def _run(args: list[str]) -> int:
    uv = _uv()
    env = _env()
    sync = subprocess.run([uv, "sync", "--frozen", "--quiet"], cwd=ROOT, env=env, check=False)
    if sync.returncode:
        return sync.returncode
    return subprocess.run([uv, "run", "--frozen", "--no-sync", *args], cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "demo":
        return _run(["handbook", "demo", *rest])
    if command == "test":
        workers = rest if any(a.startswith("-n") for a in rest) else ["-n", "auto", *rest]
        if not any(a.startswith("--dist") for a in workers):
            # Tests marked `xdist_group` run on one worker in file order: the fuzz run keeps
            # its database's state, and the problem codes it meets, the same from run to run.
            workers = ["--dist", "loadgroup", *workers]
        return _run(["pytest", *workers])
    if command == "check":
        for args in (
            ["ruff", "check", "."],
            ["ruff", "format", "--check", "."],
            ["mypy"],
            ["handbook", "openapi", "export", "--check"],
            ["handbook", "config", "reference", "--check"],
        ):
            code = _run(args)
            if code:
                return code
        return 0
    if command == "run":
        return _run(rest)
    print(__doc__)
    return 0 if command in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
