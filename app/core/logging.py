"""Structured logging: one JSON object per line, with the request id of the request being served.

Nothing here logs request bodies or headers. `SecretFilter` is a last line of defence that masks
bearer tokens, refresh tokens and password fields should a message ever carry one; the dev-only
console SMS gateway is the one place that writes an OTP code, on purpose.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The client address of the request being served (after trusted proxy headers), for the audit log.
client_ip_var: ContextVar[str | None] = ContextVar("client_ip", default=None)

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    # Keys in JSON ("password": "…"), in a dict's repr ('password': '…') or as key=value. A
    # quoted value is masked up to its closing quote: passphrases hold spaces and commas.
    re.compile(
        r"""(?i)(["']?(?:password|refresh_token|access_token|secret|api_key)["']?\s*[:=]\s*"""
        r"""(["'])?)(?(2)(?:\\.|(?!\2).)*|[^"',\s}]+)"""
    ),
    re.compile(r"""(?i)(\b(?:otp|code)["']?\s*[:=]\s*["']?)\d{4,8}\b"""),
)
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class SecretFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "allow_secret", False):
            return True
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key != "allow_secret":
                entry[key] = value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        request_id = request_id_var.get()
        return f"{base} [{request_id}]" if request_id else base


def configure_logging(level: str = "INFO", *, json_format: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SecretFilter())
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Our own middleware writes the access log (with request ids and without query strings).
    logging.getLogger("uvicorn.access").disabled = True
