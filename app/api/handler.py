"""The request handler of a route: FastAPI's own (`fastapi.routing.get_request_handler`) with
its dependency tree planned once, when the route is built, instead of walked anew on every
request.

FastAPI's `solve_dependencies` works out, on every request and for every dependency of the tree,
its cache key (`_get_cache_key`, which walks the sub-tree for security scopes), what kind of
callable it is (generator? coroutine?), and for every parameter its aliases, whether it is a
model of parameters and whether it is a list (`field_annotation_is_sequence` walks the
annotation); it also runs four parameter extractions (path, query, headers, cookies), most of
them empty. On the hot reads that bookkeeping was 18-31% of the server's CPU a request
(docs/benchmarks/README.md), and ~0.4 ms of a quiz submit's. A `Plan` does it once, from the
route's `Dependant`: each step's key and kind, each parameter's key, list flag and error
location (`_Param`). Solving then runs the same steps in the same order with FastAPI's own
validation (`_validate_value_with_model_field`, `request_body_to_args` for JSON body fields) and
generator handling (`_solve_generator`), so validation errors, the order in which dependencies
run (a 401 before a 422; an unreadable body before either), the per-request dependency cache
and the clean-up of generator dependencies are FastAPI's. A JSON body is read as FastAPI 0.165
reads it (`_read_body`). `tests/api/test_handler.py` compares it with FastAPI's handler request
by request, bodies good and bad included.

What a `Plan` does not cover falls back to FastAPI's handler, decided when the route is built:
a form body, a streamed or generator endpoint, a synchronous endpoint, dependencies taking
`BackgroundTasks`, `SecurityScopes` or a WebSocket, dependencies limited by a concurrency
semaphore; a parameter group with a model of parameters or alias choices is read by FastAPI's
`request_params_to_args`. At request time it also falls back while `app.dependency_overrides`
holds anything or FastAPI's telemetry records the request, so both keep their documented
behaviour.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from operator import attrgetter
from typing import Any

from fastapi import params
from fastapi._body_limit import get_body_limit_error
from fastapi._compat import Undefined
from fastapi._compat.shared import field_annotation_is_sequence
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import (
    Dependant,
    _get_cache_key,
    _is_async_gen_callable,
    _is_coroutine_callable,
    _is_gen_callable,
)
from fastapi.dependencies.utils import (
    _get_param_aliases,
    _get_param_model,
    _is_json_field,
    _solve_generator,
    _validate_value_with_model_field,
    request_body_to_args,
    request_params_to_args,
)
from fastapi.exceptions import EndpointContext, RequestValidationError
from fastapi.routing import APIRoute, _extract_endpoint_context, serialize_response
from fastapi.telemetry._api import _validation_failed, get_telemetry_data
from fastapi.utils import is_body_allowed_for_status_code
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# Defaults that copying leaves as they are (`_Param.absent`).
_IMMUTABLE = (type(None), bool, int, float, str, bytes, Enum)

# How a dependency is called.
_GENERATOR, _COROUTINE, _SYNC = 0, 1, 2
# Where each parameter group is read from on the request.
_RECEIVED: dict[str, Callable[[Request], Any]] = {
    "path": attrgetter("path_params"),
    "query": attrgetter("query_params"),
    "header": attrgetter("headers"),
    "cookie": attrgetter("cookies"),
}


@dataclass(frozen=True, slots=True)
class _Step:
    """One dependency of a `Plan`, with what FastAPI works out about it on every request."""

    dependant: Dependant
    call: Callable[..., Any]
    kind: int
    cache_key: Any
    plan: Plan


@dataclass(frozen=True, slots=True)
class _Param:
    """A path, query, header or cookie parameter with what `request_params_to_args` works out
    about it on every request: the key it is read under, whether it is a list, where an error
    points."""

    field: Any  # fastapi's ModelField
    key: str
    many: bool  # a list: read with `getlist` (query and headers), empty = absent
    sequence: bool
    loc: tuple[str, str]
    # What an absent parameter takes when FastAPI's steps would give its default as it is (not
    # required, not validated, no factory, immutable: copying it changes nothing); `Undefined`
    # where they must run.
    absent: Any = Undefined

    @classmethod
    def of(cls, field: Any, where: str) -> _Param | None:
        """None for what only `request_params_to_args` reads (a model of parameters, aliases)."""
        if _get_param_model(field) is not None:
            return None
        aliases = _get_param_aliases(field)
        if len(aliases) != 1:
            return None
        key = aliases[0][1]
        sequence = field_annotation_is_sequence(field.field_info.annotation)
        many = sequence and not _is_json_field(field) and where in ("query", "header")
        info = field.field_info
        absent: Any = Undefined
        if (
            not info.is_required()
            and not info.validate_default
            and info.default_factory is None
            and isinstance(info.default, _IMMUTABLE)
        ):
            absent = info.default
        return cls(field, key, many, sequence, (info.in_.value, key), absent)

    def read(self, received: Any, values: dict[str, Any]) -> tuple[Any, list[Any]]:
        value = received.getlist(self.key) if self.many else received.get(self.key, None)
        if value is None or (self.sequence and len(value) == 0):
            if self.absent is not Undefined:
                return self.absent, []
            value = Undefined  # defaults are applied by the validation
        return _validate_value_with_model_field(
            field=self.field, value=value, values=values, loc=self.loc
        )


def _read_params(params: tuple[_Param, ...], received: Any) -> tuple[dict[str, Any], list[Any]]:
    """`request_params_to_args` for planned parameters."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    for param in params:
        value, param_errors = param.read(received, values)
        if param_errors:
            errors.extend(param_errors)
        else:
            values[param.field.name] = value
    return values, errors


@dataclass(frozen=True, slots=True)
class Plan:
    """A `Dependant` planned once: its dependencies' steps (each with its own plan) and its own
    parameters, in the order FastAPI solves them."""

    steps: tuple[_Step, ...]
    dependant: Dependant
    # The non-empty parameter groups: (what reads the group off the request, its planned
    # parameters or, where one cannot be planned, FastAPI's fields).
    params: tuple[tuple[Callable[[Request], Any], tuple[_Param, ...] | list[Any]], ...]
    takes_response: bool

    @classmethod
    def of(cls, dependant: Dependant) -> Plan | None:
        """The plan of `dependant`, or None when it needs what only FastAPI's solver does."""
        if (
            dependant.background_tasks_param_name
            or dependant.security_scopes_param_name
            or dependant.websocket_param_name
        ):
            return None
        steps = []
        for sub in dependant.dependencies:
            call = sub.call
            plan = None if call is None or sub.concurrency is not None else cls.of(sub)
            if call is None or plan is None:
                return None
            if _is_gen_callable(call) or _is_async_gen_callable(call):
                kind = _GENERATOR
            elif _is_coroutine_callable(call):
                kind = _COROUTINE
            else:
                kind = _SYNC
            steps.append(_Step(sub, call, kind, _get_cache_key(dependant=sub), plan))
        groups = (
            ("path", dependant.path_params),
            ("query", dependant.query_params),
            ("header", dependant.header_params),
            ("cookie", dependant.cookie_params),
        )
        params: list[tuple[Callable[[Request], Any], tuple[_Param, ...] | list[Any]]] = []
        for where, fields in groups:
            if fields:
                planned = [_Param.of(field, where) for field in fields]
                if all(param is not None for param in planned):
                    params.append((_RECEIVED[where], tuple(p for p in planned if p is not None)))
                else:
                    params.append((_RECEIVED[where], fields))
        return cls(
            steps=tuple(steps),
            dependant=dependant,
            params=tuple(params),
            takes_response=dependant.response_param_name is not None
            or any(step.plan.takes_response for step in steps),
        )

    async def solve(
        self,
        request: Request,
        cache: dict[Any, Any],
        response: Response | None,
        body: Any = Undefined,
        embed_body_fields: bool = False,
    ) -> tuple[dict[str, Any], list[Any]]:
        """`fastapi.dependencies.utils.solve_dependencies`, step for step (`body`: the request's
        JSON body as `_read_body` read it, for the route's and its dependencies' body fields)."""
        values: dict[str, Any] = {}
        errors: list[Any] = []
        for step in self.steps:
            sub_values, sub_errors = await step.plan.solve(
                request, cache, response, body, embed_body_fields
            )
            if sub_errors:
                errors.extend(sub_errors)
                continue
            sub = step.dependant
            key = step.cache_key
            if sub.use_cache and key in cache:
                solved = cache[key]
            elif step.kind == _GENERATOR:
                stack = request.scope[
                    "fastapi_function_astack" if sub.scope == "function" else "fastapi_inner_astack"
                ]
                solved = await _solve_generator(
                    request=request, dependant=sub, stack=stack, sub_values=sub_values
                )
            elif step.kind == _COROUTINE:
                solved = await step.call(**sub_values)
            else:
                solved = await run_in_threadpool(step.call, **sub_values)
            if sub.name is not None:
                values[sub.name] = solved
            if key not in cache:
                cache[key] = solved
        for read_group, fields in self.params:
            received = read_group(request)
            if isinstance(fields, tuple):
                group_values, group_errors = _read_params(fields, received)
            else:
                group_values, group_errors = request_params_to_args(fields, received)
            values.update(group_values)
            errors += group_errors
        dependant = self.dependant
        if dependant.body_params:
            body_values, body_errors = await request_body_to_args(
                body_fields=dependant.body_params,
                received_body=body,
                embed_body_fields=embed_body_fields,
            )
            values.update(body_values)
            errors.extend(body_errors)
        if dependant.http_connection_param_name:
            values[dependant.http_connection_param_name] = request
        if dependant.request_param_name:
            values[dependant.request_param_name] = request
        if dependant.response_param_name:
            values[dependant.response_param_name] = response
        return values, errors


async def _read_body(
    request: Request,
    strict_content_type: bool,
    context: Callable[[Request], EndpointContext],
) -> Any:
    """The request's body as FastAPI's handler reads it for a JSON body field (FastAPI 0.165,
    `get_request_handler`): parsed as JSON when its content type says so (or, not strict, says
    nothing), else its bytes; `Undefined` when empty; the same errors (invalid JSON a 422, the
    body limit's own error, anything else 400). `context` builds the error's endpoint context,
    only for an error."""
    try:
        body: Any = Undefined
        body_bytes = await request.body()
        if body_bytes:
            json_body: Any = Undefined
            content_type_value = request.headers.get("content-type")
            if not content_type_value:
                if not strict_content_type:
                    json_body = await request.json()
            else:
                message = email.message.Message()
                message["content-type"] = content_type_value
                if message.get_content_maintype() == "application":
                    subtype = message.get_content_subtype()
                    if subtype == "json" or subtype.endswith("+json"):
                        json_body = await request.json()
            body = json_body if json_body is not Undefined else body_bytes
    except json.JSONDecodeError as e:
        validation_error = RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", e.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": e.msg},
                }
            ],
            body=e.doc,
            endpoint_ctx=context(request),
        )
        _validation_failed(validation_error)
        raise validation_error from e
    except HTTPException:
        raise
    except Exception as e:
        if MAX_BODY_SIZE_SCOPE_KEY in request.scope and (error := get_body_limit_error(e)):
            raise error from e
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from e
    return body


def planned_handler(route: APIRoute, fallback: Handler) -> Handler:
    """`route`'s handler with a `Plan`, or `fallback` (FastAPI's) when the route needs more."""
    dependant = route.dependant
    endpoint = dependant.call
    if (
        isinstance(getattr(route.body_field, "field_info", None), params.Form)
        or endpoint is None
        or not _is_coroutine_callable(endpoint)
        or _is_gen_callable(endpoint)
        or _is_async_gen_callable(endpoint)
        or route.stream_item_field is not None
        or route.is_json_stream
    ):
        return fallback
    plan = Plan.of(dependant)
    if plan is None:
        return fallback
    response_class = route.response_class
    actual_response_class: type[Response] = (
        response_class.value if isinstance(response_class, DefaultPlaceholder) else response_class
    )
    # FastAPI dumps the response model straight to JSON when the class is its default.
    dump_json = route.response_field is not None and isinstance(response_class, DefaultPlaceholder)
    status_code = route.status_code
    overrides = route.dependency_overrides_provider
    endpoint_ctx = _extract_endpoint_context(endpoint)
    has_body = route.body_field is not None
    embed_body_fields = route._embed_body_fields
    strict = route.strict_content_type
    strict_content_type = strict.value if isinstance(strict, DefaultPlaceholder) else strict

    def context(request: Request) -> EndpointContext:
        """The endpoint context of a validation error (FastAPI's, with the request's path)."""
        ctx = EndpointContext(**endpoint_ctx)
        if dependant.path:
            mount_path = request.scope.get("root_path", "").rstrip("/")
            ctx["path"] = f"{request.method} {mount_path}{dependant.path}"
        return ctx

    async def app(request: Request) -> Response:
        if (overrides is not None and overrides.dependency_overrides) or (
            get_telemetry_data() is not None
        ):
            return await fallback(request)
        response: Response | None = None
        if plan.takes_response:  # the sub-response dependencies set headers and a status on
            response = Response()
            del response.headers["content-length"]
            response.status_code = None  # type: ignore[assignment]
        body: Any = Undefined
        if has_body:
            body = await _read_body(request, strict_content_type, context)
        values, errors = await plan.solve(request, {}, response, body, embed_body_fields)
        if errors:
            raise RequestValidationError(
                errors, body=None if body is Undefined else body, endpoint_ctx=context(request)
            )
        raw_response = await endpoint(**values)
        if isinstance(raw_response, Response):
            return raw_response
        content = await serialize_response(
            field=route.response_field,
            response_content=raw_response,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
            is_coroutine=True,
            endpoint_ctx=endpoint_ctx,
            dump_json=dump_json,
        )
        args: dict[str, Any] = {}
        sub_status = response.status_code if response is not None else None
        if status_code or sub_status:
            args["status_code"] = sub_status or status_code
        if dump_json:
            result = Response(content=content, media_type="application/json", **args)
        else:
            result = actual_response_class(content, **args)
        if not is_body_allowed_for_status_code(result.status_code):
            result.body = b""
        if response is not None:
            result.headers.raw.extend(response.headers.raw)
        return result

    return app
