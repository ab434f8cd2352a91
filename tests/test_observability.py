"""The monitoring kit: Prometheus alert rules pass promtool (syntax and unit tests), and the
rules and the Grafana dashboard use only metrics the app exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client import REGISTRY

import app.core.metrics  # noqa: F401 - registers the app's metrics

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "handbook.json"
PROMTOOL_DIR = ROOT / ".tools" / "prometheus"
PROMQL_WORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
)


def _promtool() -> str:
    """promtool from PATH, or from Debian's `prometheus` package unpacked into .tools/."""
    found = shutil.which("promtool")
    if found:
        return found
    local = PROMTOOL_DIR / "usr" / "bin" / "promtool"
    if local.exists():
        return str(local)
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        pytest.skip("promtool is not installed and Debian's packages are not reachable here")
    with tempfile.TemporaryDirectory() as tmp:
        fetched = subprocess.run(
            ["apt-get", "download", "prometheus"], cwd=tmp, capture_output=True, check=False
        )
        packages = list(Path(tmp).glob("prometheus_*.deb"))
        if fetched.returncode or not packages:
            pytest.skip(f"could not fetch Debian's prometheus package: {fetched.stderr[-300:]!r}")
        unpacked = Path(tmp) / "x"
        subprocess.run(["dpkg", "-x", str(packages[0]), str(unpacked)], check=True)
        PROMTOOL_DIR.parent.mkdir(exist_ok=True)
        try:
            unpacked.rename(PROMTOOL_DIR)  # atomic: a parallel test run may have won the race
        except OSError:
            shutil.rmtree(unpacked, ignore_errors=True)
    return str(local)


def test_alert_rules_pass_promtool() -> None:
    promtool = _promtool()
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        result = subprocess.run(
            [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def _exported_series() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(f"{family.name}{suffix}" for suffix in ("_total", "_count", "_sum", "_bucket"))
    return names


def _metric_names(expr: str) -> set[str]:
    text = re.sub(r'"[^"]*"', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)  # grouping labels
    names = set()
    for match in re.finditer(r"\b([a-z_][a-z0-9_]*)\b(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if not call and word not in PROMQL_WORDS:
            names.add(word)
    return names


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_alerts_and_dashboard_use_only_exported_metrics() -> None:
    exported = _exported_series()
    exprs = _alert_exprs() + _dashboard_exprs()
    used = set().union(*(_metric_names(expr) for expr in exprs))
    assert used, "no metric found: the expression parser is broken"
    assert used <= exported, sorted(used - exported)


def test_required_alerts_are_present() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {
        "HandbookHighErrorRate",
        "HandbookSlowRequests",
        "HandbookOldestDueJobWaiting",
        "HandbookPushFailures",
        "HandbookSmsBudgetNearlySpent",
        "HandbookNotReady",
    } <= names
