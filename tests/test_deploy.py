"""The deployment kit without a Docker engine: compose.yaml against the Compose specification,
and the image's install steps performed on a copy holding only what the Dockerfile copies, from
which `handbook api` and `handbook worker` must start (a missing file or dependency fails here,
not at a province)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from tests import processes

ROOT = Path(__file__).resolve().parents[1]
# The Compose specification's schema, from the docker-compose 1.29.2 package on PyPI
# (compose/config/compose_spec.json, Apache-2.0).
COMPOSE_SCHEMA = Path(__file__).parent / "data" / "compose_spec.json"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def test_compose_file_follows_the_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(_compose()), key=lambda e: list(e.path)
    )
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_compose_runs_every_process_from_the_one_image() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "migrate", "api", "worker", "proxy"} <= set(services)
    ours = {name: s for name, s in services.items() if s.get("build") == "."}
    assert set(ours) == {"migrate", "api", "worker"}
    assert {s["image"] for s in ours.values()} == {"handbook:latest"}
    assert services["migrate"]["command"] == ["handbook", "db", "upgrade"]
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "handbook", "worker", "--check"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert services[name]["env_file"] == ".env.production"
    # The API is reached through the proxy only; /metrics never through it.
    assert "ports" not in services["api"]
    assert "location = /metrics { return 404; }" in (ROOT / "deploy" / "nginx.conf").read_text()


def test_secrets_file_is_not_committed_and_its_example_is() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".env.production"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, ".env.production must be ignored by git"
    kept = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/env.example"], cwd=ROOT, check=False
    )
    assert kept.returncode == 1, "deploy/env.example must be committed"
    example = (ROOT / "deploy" / "env.example").read_text(encoding="utf-8")
    assert re.search(r"^AUTH__SECRET_KEY=$", example, re.MULTILINE)  # no secret in the example


def _copied_by_dockerfile() -> list[str]:
    """What the Dockerfile's build stage COPYs from the context (not from other stages)."""
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
            sources += [p for p in parts[1:-1] if not p.startswith("--")]
    return sources


def _uv() -> str | None:
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(ROOT / ".tools/bin/uv")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def image_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not available (python3 dev.py bootstraps it)")
    app_dir = tmp_path_factory.mktemp("image") / "app"
    app_dir.mkdir()
    sources = _copied_by_dockerfile()
    assert {"pyproject.toml", "uv.lock", "app", "migrations"} <= set(sources)
    for source in sources:
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, app_dir / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, app_dir / source)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))},
        "UV_PROJECT_ENVIRONMENT": str(app_dir / ".venv"),
        "UV_PYTHON": sys.executable,
        "UV_PYTHON_DOWNLOADS": "never",
    }
    subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--quiet"], cwd=app_dir, env=env, check=True
    )
    return app_dir


def _image_env(app_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT"}
    }
    env.update(
        PATH=f"{app_dir / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        ENV="prod",
        AUTH__SECRET_KEY=secrets.token_urlsafe(48),
        SMS__GATEWAY="http",
        SMS__URL="http://127.0.0.1:9/send",
        DATA_DIR=str(app_dir / "var"),
        DATABASE_URL=f"sqlite:///{app_dir / 'var' / 'handbook.db'}",
        LOG__JSON_FORMAT="true",
    )
    env.update(extra)
    return env


def test_image_install_serves_the_api_and_runs_the_worker(image_copy: Path) -> None:
    """The installed copy (not this checkout) migrates, serves /readyz and runs a worker whose
    liveness check passes."""
    env = _image_env(image_copy)
    handbook = str(image_copy / ".venv" / "bin" / "handbook")
    workdir = image_copy.parent  # not the checkout: nothing can come from the repository
    (image_copy / "var").mkdir(exist_ok=True)  # the Dockerfile makes /app/var
    migrate = subprocess.run(
        [handbook, "db", "upgrade"], cwd=workdir, env=env, capture_output=True, check=False
    )
    assert migrate.returncode == 0, migrate.stderr.decode()[-2000:]

    port = processes.free_port()
    api = subprocess.Popen(
        [handbook, "api", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    worker = subprocess.Popen(
        [handbook, "worker"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ready = processes.wait_ready(port, api)
        deadline = time.monotonic() + processes.DEADLINE_S
        assert ready is not None, "the API did not start"
        assert ready.status_code == 200, ready.text
        alive = 1
        while time.monotonic() < deadline and worker.poll() is None:
            check = subprocess.run(
                [handbook, "worker", "--check"], cwd=workdir, env=env, capture_output=True
            )
            alive = check.returncode
            if alive == 0:
                break
            time.sleep(0.5)
        assert alive == 0, "the worker never reported a fresh heartbeat"
    finally:
        for process in (api, worker):
            if process.poll() is None:
                process.terminate()
        for process in (api, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert worker.returncode == 0, (worker.stderr.read() if worker.stderr else b"")[-2000:]
