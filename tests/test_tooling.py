"""The house tools run as part of the suite, so CI holds every commit to them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "."), ("ruff", "format", "--check", "."), ("mypy",)],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_code_is_clean(command: tuple[str, ...]) -> None:
    result = run(*command)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_an_unreachable_postgresql_fails_the_run(tmp_path: Path) -> None:
    """`.ci/run` sets TEST_DATABASE_URL: when nothing answers there the run must fail, at once,
    never quietly run on SQLite alone."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-q", "tests/core/test_text.py"],
        cwd=ROOT,
        env={**os.environ, "TEST_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/test"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    assert "PostgreSQL does not answer" in result.stdout + result.stderr
    assert " passed" not in result.stdout
