"""All API routers, under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

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
):
    api_router.include_router(module.router)
