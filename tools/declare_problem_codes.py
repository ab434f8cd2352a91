"""Write the problem codes a test run met, but the document omits, into the routes' declarations.

A run that meets undeclared codes fails and leaves them in
`$TMPDIR/handbook-problem-codes-<run>/missing.json` (MISSING_JSON below; see
tests/problem_codes.py). This adds each
one to the `problems(..., codes={...})` of its route's decorator, in place:

    python3 dev.py run python tools/declare_problem_codes.py MISSING_JSON
    python3 dev.py run ruff format app/api && python3 dev.py run handbook openapi export

Read the diff before committing: a code the run met is not always one the route should answer.
Routes whose `responses=` is not a `problems(...)` call are listed for a hand edit.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from fastapi.routing import APIRoute, iter_route_contexts

from app.main import create_app

Codes = dict[int, set[str]]


def _decorator_call(route: APIRoute, method: str) -> tuple[Path, ast.expr | None]:
    path = Path(inspect.getsourcefile(route.endpoint) or "")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if node.name != route.endpoint.__name__:
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == method.lower()
                and decorator.args
                and isinstance(decorator.args[0], ast.Constant)
                and route.path.endswith(str(decorator.args[0].value))
            ):
                for keyword in decorator.keywords:
                    if keyword.arg == "responses":
                        return path, keyword.value
    return path, None


def _render(call: ast.Call, add: Codes) -> str:
    codes: Codes = defaultdict(set)
    for keyword in call.keywords:
        if keyword.arg == "codes" and isinstance(keyword.value, ast.Dict):
            for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(value, ast.List | ast.Tuple):
                    codes[int(key.value)] |= {str(ast.literal_eval(e)) for e in value.elts}
    for status, new in add.items():
        codes[status] |= new
    parts = [
        ast.unparse(arg)
        for arg in call.args
        if not (isinstance(arg, ast.Constant) and arg.value in codes)
    ]
    listed = ", ".join(
        f"{status}: [{', '.join(json.dumps(c) for c in sorted(codes[status]))}]"
        for status in sorted(codes)
    )
    parts.append(f"codes={{{listed}}}")
    # Other keywords (a route's own `descriptions=`) stay as written.
    parts += [
        f"{k.arg}={ast.unparse(k.value)}" for k in call.keywords if k.arg not in (None, "codes")
    ]
    return f"problems({', '.join(parts)})"


def main(missing_file: str) -> int:
    wanted: dict[tuple[str, str], Codes] = defaultdict(lambda: defaultdict(set))
    for method, template, status, code in json.loads(Path(missing_file).read_text()):
        wanted[(method, template)][int(status)].add(code)
    edits: dict[Path, dict[tuple[int, int], tuple[ast.Call, Codes]]] = defaultdict(dict)
    app = create_app()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        template = context.path or ""
        for method in route.methods or ():
            add = wanted.pop((method, _plain(template)), None)
            if add is None:
                continue
            path, call = _decorator_call(route, method)
            is_problems = isinstance(call, ast.Call) and getattr(call.func, "id", "") == "problems"
            if not isinstance(call, ast.Call) or not is_problems:
                print(f"edit by hand: {method} {template} in {path}: {dict(add)}")  # noqa: T201
                continue
            key = (call.lineno, call.col_offset)
            merged = edits[path].setdefault(key, (call, defaultdict(set)))[1]
            for status, new in add.items():
                merged[status] |= new
    for path, calls in edits.items():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for (_line, _col), (call, add) in sorted(calls.items(), reverse=True):
            text = "".join(lines)
            starts = [0]
            for line in lines:
                starts.append(starts[-1] + len(line))
            begin = starts[call.lineno - 1] + _chars(lines[call.lineno - 1], call.col_offset)
            end_line = call.end_lineno or call.lineno
            end = starts[end_line - 1] + _chars(lines[end_line - 1], call.end_col_offset or 0)
            text = text[:begin] + _render(call, add) + text[end:]
            lines = text.splitlines(keepends=True)
        path.write_text("".join(lines), encoding="utf-8")
        print(f"{path}: {len(calls)} declaration(s)")  # noqa: T201
    for (method, template), add in wanted.items():
        print(f"no route: {method} {template}: {dict(add)}")  # noqa: T201
    return 0


def _chars(line: str, byte_offset: int) -> int:
    """ast offsets count UTF-8 bytes; strings count characters."""
    return len(line.encode()[:byte_offset].decode())


def _plain(template: str) -> str:
    return re.sub(r"{(\w+):\w+}", r"{\1}", template)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
