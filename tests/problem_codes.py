"""Which problem codes the tests observe, against the codes the OpenAPI document declares.

Every request a test sends through httpx to the app in process (the `client` fixture and every
`httpx.AsyncClient(transport=httpx.ASGITransport(app=...))`) passes `AsyncClient.send`, which is
wrapped here once per test process: each problem+json answer is recorded as (method, route
template, status, code). The fuzz run records its answers with `record`. At the end of the
session each xdist worker writes what it saw to a file of the run; the controller (or the only
process) merges them and fails the run, listing each observed (operation, status, code) the
document omits: declare it with `problems(..., codes={status: [code]})` on the route (see
`app/api/responses.py`). Only what this run observed is checked, so a targeted run checks the
routes it exercised.

What the fuzz run alone meets is reported the same way (and written to `missing.json` for
`tools/declare_problem_codes.py`) but fails the run only with `FUZZ_CODES_STRICT=1`: on real ids
its cases meet database states that other cases left behind, so which refusals it sees can vary
from run to run, and a CI run must not fail on that. Deep fuzz runs set it.
"""

from __future__ import annotations

import json
import re
import tempfile
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import compile_path

from app.core.errors import PROBLEM_MEDIA_TYPE

Observation = tuple[str, str, int, str]  # method, route template, status, code

OBSERVED: set[Observation] = set()
FUZZ_OBSERVED: set[Observation] = set()
_TEMPLATES: weakref.WeakKeyDictionary[Any, list[tuple[re.Pattern[str], set[str], str]]] = (
    weakref.WeakKeyDictionary()
)


def _templates(app: FastAPI) -> list[tuple[re.Pattern[str], set[str], str]]:
    found = _TEMPLATES.get(app)
    if found is None:
        found = []
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if isinstance(route, APIRoute) and context.path:
                regex, _format, _convertors = compile_path(context.path)
                template = re.sub(r"{(\w+):\w+}", r"{\1}", context.path)
                found.append((regex, set(route.methods or ()), template))
        _TEMPLATES[app] = found
    return found


def template_of(app: Any, method: str, path: str) -> str | None:
    """The route template the app routes (method, path) to, as Starlette picks it."""
    if not isinstance(app, FastAPI):
        return None
    for regex, methods, template in _templates(app):
        if method in methods and regex.match(path):
            return template
    return None


def record(
    method: str,
    template: str,
    status: int,
    content_type: str,
    body: bytes,
    *,
    fuzz: bool = False,
) -> None:
    if status < 400 or not content_type.startswith(PROBLEM_MEDIA_TYPE):
        return
    try:
        code = json.loads(body)["code"]
    except (ValueError, KeyError, TypeError):
        return
    (FUZZ_OBSERVED if fuzz else OBSERVED).add((method.upper(), template, status, str(code)))


def install() -> None:
    """Wrap `httpx.AsyncClient.send` (once) to record the app's problem answers."""
    if getattr(httpx.AsyncClient.send, "_records_problems", False):
        return
    original = httpx.AsyncClient.send

    async def send(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> Any:
        response = await original(self, request, **kwargs)
        transport = getattr(self, "_transport", None)
        if response.status_code >= 400 and isinstance(transport, httpx.ASGITransport):
            template = template_of(transport.app, request.method, request.url.path)
            if template is not None and not kwargs.get("stream"):
                record(
                    request.method,
                    template,
                    response.status_code,
                    response.headers.get("content-type", ""),
                    response.content,
                )
        return response

    send._records_problems = True  # type: ignore[attr-defined]
    httpx.AsyncClient.send = send  # type: ignore[method-assign]


def run_dir(run_tag: str) -> Path:
    return Path(tempfile.gettempdir()) / f"handbook-problem-codes-{run_tag}"


def save(run_tag: str, worker: str) -> None:
    directory = run_dir(run_tag)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{worker}.json").write_text(
        json.dumps({"suite": sorted(OBSERVED), "fuzz": sorted(FUZZ_OBSERVED)})
    )


def load(run_tag: str) -> tuple[set[Observation], set[Observation]]:
    """What the run's processes observed: (the suite's, the fuzz run's)."""
    suite: set[Observation] = set()
    fuzz: set[Observation] = set()
    for path in sorted(run_dir(run_tag).glob("*.json")):
        if path.name == "missing.json":
            continue
        saved = json.loads(path.read_text())
        suite |= {(m, t, int(s), c) for m, t, s, c in saved["suite"]}
        fuzz |= {(m, t, int(s), c) for m, t, s, c in saved["fuzz"]}
    return suite, fuzz


def declared(spec: dict[str, Any], method: str, template: str, status: int) -> set[str] | None:
    """The codes the document declares for the operation and status (`default` for a status it
    does not name); None when the document has no such operation (hidden routes)."""
    operation = spec.get("paths", {}).get(template, {}).get(method.lower())
    if operation is None:
        return None
    responses = operation.get("responses", {})
    response = responses.get(str(status)) or responses.get("default") or {}
    return set(response.get("x-problem-codes", ()))


def missing(spec: dict[str, Any], observed: Iterable[Observation]) -> list[Observation]:
    """The observations the document does not declare."""
    return sorted(
        (method, template, status, code)
        for method, template, status, code in observed
        if (codes := declared(spec, method, template, status)) is not None and code not in codes
    )


def report(gaps: list[Observation]) -> str:
    lines = [
        f"{len(gaps)} problem code(s) observed but not declared in the OpenAPI document; "
        "declare them with problems(..., codes={status: [code]}) on the route:"
    ]
    lines += [f"  {method} {template} {status} {code}" for method, template, status, code in gaps]
    return "\n".join(lines)
