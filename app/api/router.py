"""All API routes: every area's operations under /api/v1, the operational ones at the root.

The routes are added to the app's own router, one flat list, rather than included as routers.
FastAPI (0.16x) keeps an included router as a lazy branch that a request walks twice (to match,
then to handle) at every level of inclusion, and an area late in the list paid up to half a
millisecond a request for it. In the flat list, a request tries only the routes of its shape
(`IndexedRouter`: area, slashes, last segment), each turned away by string tests before its pattern
(`HandbookRoute.matches`).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from app.api import (
    accounts,
    app_config,
    articles,
    audit,
    auth,
    documents,
    feed,
    imports,
    me,
    meetings,
    members,
    membership,
    notifications,
    ops,
    orgs,
    packets,
    reorganisation,
    roles,
    rules,
    stats,
    study,
    surveys,
    tasks,
    uploads,
)
from app.api.routing import HandbookRoute, IndexedRouter, operation_id

API_PREFIX = "/api/v1"

# In matching order: where two paths could match the same request, the earlier area wins.
AREA_ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        app_config,
        auth,
        me,
        notifications,
        orgs,
        reorganisation,
        members,
        membership,
        accounts,
        roles,
        audit,
        uploads,
        rules,
        documents,
        articles,
        feed,
        packets,
        meetings,
        tasks,
        study,
        surveys,
        imports,
        stats,
    )
)


def install_routes(app: FastAPI) -> None:
    # FastAPI builds the app's router itself; its class becomes ours, which only changes how a
    # request finds its route (`IndexedRouter` keeps no state of its own but a lazy index).
    app_router = app.router
    # Starlette's router calls `middleware_stack`, bound at its creation to its `app` method:
    # bind it again so requests take `IndexedRouter.app`. A router wrapping middleware of its own
    # there could not be rebound so: refused rather than served by the walk unnoticed.
    if app_router.middleware_stack != app_router.app:
        raise TypeError("the app's router wraps middleware of its own")
    app_router.__class__ = IndexedRouter
    app_router.middleware_stack = app_router.app
    for router in AREA_ROUTERS:
        add_routes(app.router, router, prefix=API_PREFIX)
    add_routes(app.router, ops.router, prefix="")


def add_routes(target: APIRouter, source: APIRouter, *, prefix: str) -> None:
    """`source`'s operations as `target`'s own routes under `prefix` (what `include_router` did
    before FastAPI made it lazy): each keeps its name, operationId and everything its router gave
    it (tags, responses and dependencies are merged into a route when it is declared)."""
    for route in source.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only API routes are installed")
        target.add_api_route(
            prefix + route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            dependencies=route.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            route_class_override=type(route) if isinstance(route, HandbookRoute) else APIRoute,
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=operation_id,
            strict_content_type=route.strict_content_type,
            max_body_size=route.max_body_size,
            form_limits=route.form_limits,
        )
