"""All API routers, under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import (
    accounts,
    app_config,
    audit,
    auth,
    me,
    members,
    membership,
    notifications,
    orgs,
    reorganisation,
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
    reorganisation,
    members,
    membership,
    accounts,
    roles,
    audit,
    uploads,
    rules,
):
    api_router.include_router(module.router)
