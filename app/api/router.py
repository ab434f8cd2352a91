"""All API routers, under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import (
    app_config,
    audit,
    auth,
    imports,
    me,
    members,
    notifications,
    orgs,
    roles,
    rules,
    uploads,
)

api_router = APIRouter(prefix="/api/v1")
for module in (
    app_config,
    auth,
    me,
    notifications,
    orgs,
    members,
    roles,
    audit,
    uploads,
    rules,
    imports,
):
    api_router.include_router(module.router)
