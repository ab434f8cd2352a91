"""The configuration reference (docs/configuration.md), generated from the Settings classes.

Every variable, its type, default and meaning. The meaning is the comment written above the
field (or at the end of its line) in `app/core/config.py`, so the code stays the one place where a
setting is explained; a field without one fails `tests/core/test_config_doc.py`.
"""

from __future__ import annotations

import inspect
import io
import tokenize
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from app.core.config import Settings

REFERENCE_PATH = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

_HEADER = """\
# Configuration reference

Generated from `app/core/config.py` by `handbook config reference`; a test fails when it is stale.
Every setting is an environment variable (or a line of the `.env` file in the working directory).
Nested groups use `__`: `AUTH__ACCESS_TTL_S=600`. Lists are JSON (`API__CORS_ORIGINS='["https://a.vn"]'`).
Secrets are marked 🔒: keep them out of the repository and of logs (an env file readable by the
service only, or the orchestrator's secret store). `handbook config check` validates an environment
before the API starts.
"""


def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """The comment block above each field of `model`'s class body, or the comment ending its line;
    the class docstring is not a field's meaning."""
    source = inspect.getsource(model)
    comments: dict[str, str] = {}
    pending: list[str] = []
    line_has_code = False
    field_on_line: str | None = None
    depth = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            if line_has_code and field_on_line:
                comments[field_on_line] = _join(comments.get(field_on_line, ""), text)
            elif not line_has_code:
                pending.append(text)
        elif token.type in (tokenize.NEWLINE, tokenize.NL):
            if token.type == tokenize.NEWLINE:
                line_has_code = False
                field_on_line = None
            elif not line_has_code and not token.line.strip():
                pending = []  # a blank line ends a comment block
        elif token.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING):
            continue
        else:
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
            if (
                not line_has_code
                and depth == 0
                and token.type == tokenize.NAME
                and token.line.startswith("    ")
                and not token.line.startswith("     ")
                and token.string in model.model_fields
            ):
                field_on_line = token.string
                if pending:
                    comments[field_on_line] = " ".join(pending)
            if not line_has_code:
                pending = []
            line_has_code = True
    return comments


def _join(first: str, second: str) -> str:
    return f"{first} {second}".strip()


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in typing.get_args(annotation) if a is not type(None)]
        name = " \\| ".join(_type_name(a) for a in parts)
        return f"{name} (optional)" if len(parts) < len(typing.get_args(annotation)) else name
    if origin is list:
        (item,) = typing.get_args(annotation)
        return f"list of {_type_name(item)}"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{member.value}`" for member in annotation)
    names = {
        str: "text",
        int: "integer",
        float: "number",
        bool: "boolean",
        Path: "path",
        SecretStr: "secret",
    }
    if isinstance(annotation, type) and annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation))


def _default(info: FieldInfo) -> str:
    value = info.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, Enum):
        value = value.value
    if value is None or value == "":
        return "(unset)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"`{_number(value)}`"
    return f"`{value}`"


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{round(value, 4):g}"


def _bounds(info: FieldInfo) -> str:
    words = []
    for meta in info.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            bound = getattr(meta, attr, None)
            if bound is not None:
                words.append(f"{sign} {_number(bound)}")
    return f" ({', '.join(words)})" if words else ""


def reference_rows() -> list[tuple[str, str, str, str, str]]:
    """(group, variable, type, default, meaning) for every setting, in declaration order."""
    rows: list[tuple[str, str, str, str, str]] = []
    top_comments = field_comments(Settings)
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            group = annotation
            comments = field_comments(group)
            for sub, sub_info in group.model_fields.items():
                rows.append(
                    (
                        name,
                        f"{name}__{sub}".upper(),
                        _type_name(sub_info.annotation) + _bounds(sub_info),
                        _default(sub_info),
                        _meaning(sub_info, comments.get(sub, "")),
                    )
                )
        else:
            rows.append(
                (
                    "",
                    name.upper(),
                    _type_name(annotation) + _bounds(info),
                    _default(info),
                    _meaning(info, top_comments.get(name, "")),
                )
            )
    return rows


def _meaning(info: FieldInfo, comment: str) -> str:
    text = info.description or comment
    if info.annotation is SecretStr:
        text = f"🔒 {text}"
    return text.replace("|", "\\|")


def _group_title(group: str) -> str:
    if not group:
        return "General"
    model = Settings.model_fields[group].annotation
    doc = model.__dict__.get("__doc__") if model is not None else None
    title = f"`{group.upper()}__*`"
    return f"{title}: {doc.splitlines()[0]}" if doc else title


def render_reference() -> str:
    out = [_HEADER]
    current: str | None = None
    for group, variable, type_name, default, meaning in reference_rows():
        if group != current:
            current = group
            out.append(f"\n## {_group_title(group)}\n")
            out.append("| variable | type | default | meaning |")
            out.append("|---|---|---|---|")
        out.append(f"| `{variable}` | {type_name} | {default} | {meaning} |")
    return "\n".join(out) + "\n"


def missing_meanings() -> list[str]:
    return [variable for _, variable, _, _, meaning in reference_rows() if not meaning.strip("🔒 ")]
