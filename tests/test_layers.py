"""Imports point one way: api → services → models (schemas shared, core under everything).
The worker and the CLI use the services without the web layer, so nothing below `app.api`
imports it, and services never import FastAPI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"
# layer -> modules it must never import
FORBIDDEN = {
    "core": ("app.api", "app.services", "app.integrations", "app.resources"),
    "models": ("app.api", "app.services", "app.schemas", "app.resources", "fastapi"),
    "schemas": ("app.api", "app.resources", "fastapi"),
    "services": ("app.api", "app.resources", "fastapi", "starlette"),
    "integrations": ("app.api", "app.services", "app.resources", "fastapi", "starlette"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_one_way(layer: str) -> None:
    offences = []
    for path in sorted((APP / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer]):
                offences.append(f"{path.relative_to(APP.parent)} imports {name}")
    assert not offences, offences
