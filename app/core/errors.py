"""RFC 9457 problem details: the one shape of every non-2xx response.

Services raise `AppError` subclasses carrying a stable `code` (`area.reason`), a status and a
Vietnamese `detail` for people; clients branch on `code`. The handlers installed by
`install_error_handlers` render those, request validation errors (422 with `errors`), routing
errors (404/405), oversized bodies (413) and anything unexpected (500, no stack trace).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, cast

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.core.logging import request_id_var

log = logging.getLogger("app.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://handbook.dangvien.vn/problems/"


class AppError(Exception):
    """An expected failure with a stable code. Subclass per status; pass a specific code."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad Request"
    default_code: ClassVar[str] = "request.bad"
    default_detail: ClassVar[str] = "Yêu cầu không hợp lệ."
    # When True the request's session is committed before the error is sent (e.g. a failed OTP
    # attempt must be counted even though the request fails).
    keep_changes: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        keep_changes: bool = False,
    ) -> None:
        self.code = code or self.default_code
        self.detail = detail or self.default_detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        self.keep_changes = keep_changes
        super().__init__(f"{self.code}: {self.detail}")


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status = 401
    title = "Unauthorized"
    default_code = "auth.unauthenticated"
    default_detail = "Bạn cần đăng nhập để tiếp tục."

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        error = "invalid_token" if self.code != "auth.unauthenticated" else None
        value = 'Bearer realm="handbook"' + (f', error="{error}"' if error else "")
        self.headers.setdefault("WWW-Authenticate", value)


class Forbidden(AppError):
    status = 403
    title = "Forbidden"
    default_code = "scope.forbidden"
    default_detail = "Bạn không có quyền thực hiện thao tác này."


class NotFound(AppError):
    status = 404
    title = "Not Found"
    default_code = "resource.not_found"
    default_detail = "Không tìm thấy dữ liệu yêu cầu."


class Conflict(AppError):
    status = 409
    title = "Conflict"
    default_code = "resource.conflict"
    default_detail = "Dữ liệu xung đột với dữ liệu hiện có."


class Gone(AppError):
    status = 410
    title = "Gone"
    default_code = "resource.gone"
    default_detail = "Dữ liệu không còn nữa."


class RangeNotSatisfiableError(AppError):
    status = 416
    title = "Range Not Satisfiable"
    default_code = "file.range_not_satisfiable"
    default_detail = "Đoạn dữ liệu yêu cầu nằm ngoài tệp."

    def __init__(self, size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.headers["Content-Range"] = f"bytes */{size}"


class ContentTooLarge(AppError):
    status = 413
    title = "Content Too Large"
    default_code = "request.too_large"
    default_detail = "Dữ liệu gửi lên quá lớn."


class UnsupportedMediaType(AppError):
    status = 415
    title = "Unsupported Media Type"
    default_code = "request.unsupported_media_type"
    default_detail = "Định dạng không hỗ trợ."


class Unprocessable(AppError):
    status = 422
    title = "Unprocessable Content"
    default_code = "request.invalid"
    default_detail = "Dữ liệu gửi lên không hợp lệ."


class TooManyRequests(AppError):
    status = 429
    title = "Too Many Requests"
    default_code = "rate.limited"
    default_detail = "Bạn thao tác quá nhiều lần. Vui lòng thử lại sau."

    def __init__(self, detail: str | None = None, *, retry_after_s: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers["Retry-After"] = str(max(1, int(retry_after_s)))
        self.extra.setdefault("retry_after", max(1, int(retry_after_s)))


class ServiceUnavailable(AppError):
    status = 503
    title = "Service Unavailable"
    default_code = "service.unavailable"
    default_detail = "Hệ thống tạm thời không phục vụ được. Vui lòng thử lại sau."


# Titles and codes for statuses produced outside our handlers (routing, framework limits).
_HTTP_CODES: dict[int, tuple[str, str, str]] = {
    400: ("Bad Request", "request.bad", "Yêu cầu không hợp lệ."),
    401: ("Unauthorized", "auth.unauthenticated", "Bạn cần đăng nhập để tiếp tục."),
    403: ("Forbidden", "scope.forbidden", "Bạn không có quyền thực hiện thao tác này."),
    404: ("Not Found", "route.not_found", "Không tìm thấy địa chỉ yêu cầu."),
    405: ("Method Not Allowed", "route.method_not_allowed", "Phương thức không được hỗ trợ."),
    413: ("Content Too Large", "request.too_large", "Dữ liệu gửi lên quá lớn."),
    415: ("Unsupported Media Type", "request.unsupported_media_type", "Định dạng không hỗ trợ."),
    500: ("Internal Server Error", "server.error", "Đã có lỗi xảy ra. Vui lòng thử lại sau."),
}


def http_titles(status: int) -> tuple[str, str]:
    """The title and the default Vietnamese detail of a status (for documentation examples)."""
    pending: list[type[AppError]] = [AppError]
    while pending:
        kind = pending.pop()
        if kind.status == status:
            return kind.title, kind.default_detail
        pending += kind.__subclasses__()
    title, _code, detail = _HTTP_CODES.get(status, ("Error", "", "Yêu cầu lỗi."))
    return title, detail


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id_var.get(),
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def http_problem(status: int, *, instance: str | None = None, headers: Any = None) -> Response:
    title, code, detail = _HTTP_CODES.get(status, ("Error", f"http.{status}", "Yêu cầu lỗi."))
    return problem_response(
        status=status, code=code, title=title, detail=detail, instance=instance, headers=headers
    )


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # Only location, message and type: never echo the input back (it may hold a password).
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e["type"]}
        for e in errors
    ]


async def _app_error(request: Request, exc: Exception) -> Response:
    exc = cast(AppError, exc)
    return problem_response(
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _request_validation(request: Request, exc: Exception) -> Response:
    exc = cast(RequestValidationError, exc)
    return problem_response(
        status=422,
        code="request.invalid",
        title="Unprocessable Content",
        detail="Dữ liệu gửi lên không hợp lệ.",
        instance=request.url.path,
        extra={"errors": _validation_errors(exc.errors())},
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    exc = cast(StarletteHTTPException, exc)
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        return problem_response(
            status=400,
            code="request.malformed",
            title="Bad Request",
            detail="Không đọc được dữ liệu gửi lên.",
            instance=request.url.path,
        )
    headers = exc.headers
    if exc.status_code == 405:
        # Starlette names only the methods of the first route matching the path; several routes
        # may share a path (GET and POST /orgs), so answer with all of them.
        methods = _allowed_methods(request)
        if methods:
            headers = {**(headers or {}), "Allow": ", ".join(methods)}
    return http_problem(exc.status_code, instance=request.url.path, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    app = request.app
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, item in app.openapi().get("paths", {}).items():
            regex = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template))
            table.append((re.compile(f"^{regex}$"), sorted(m.upper() for m in item)))
        app.state.allow_table = table
    for pattern, methods in table:
        if pattern.match(request.url.path):
            return methods
    return []


def _fixed_problem(
    status: int, code: str, title: str, detail: str
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, _exc: Exception) -> Response:
        return problem_response(
            status=status, code=code, title=title, detail=detail, instance=request.url.path
        )

    return handler


# Services check uniqueness first and answer with a specific code; this is the race where two
# requests passed the check together and the database refused the second.
_integrity_error = _fixed_problem(
    409,
    "resource.conflict",
    "Conflict",
    "Dữ liệu vừa bị thay đổi bởi một thao tác khác. Vui lòng thử lại.",
)
# A value the database cannot hold slipped past validation (inputs are checked at the edge; this
# safety net keeps such input from becoming a 500).
_data_error = _fixed_problem(
    422, "request.unstorable", "Unprocessable Content", "Dữ liệu gửi lên không lưu được."
)


# Every connection of the write pool stayed busy for `DB__POOL_TIMEOUT_S` (a burst larger than
# the pool): the request did nothing and may be sent again shortly, so it is a 503, not a 500.
BUSY_RETRY_AFTER_S = 2


async def _pool_timeout(request: Request, _exc: Exception) -> Response:
    log.warning("database pool exhausted: %s %s answered 503", request.method, request.url.path)
    return problem_response(
        status=503,
        code="server.busy",
        title="Service Unavailable",
        detail="Hệ thống đang quá tải. Vui lòng thử lại sau giây lát.",
        instance=request.url.path,
        headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
        extra={"retry_after": BUSY_RETRY_AFTER_S},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(PoolTimeout, _pool_timeout)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(asyncpg.exceptions.DataError, _data_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    # Unhandled exceptions become a 500 problem in `core.middleware` (with the request id).
