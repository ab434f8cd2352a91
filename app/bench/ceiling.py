"""The framework ceiling: a bare FastAPI route returning a small Pydantic model (no DB, no auth).

Served exactly like the product (uvicorn, same worker count, no access log, uvloop + httptools as
`uvicorn[standard]` picks them): `uvicorn app.bench.ceiling:app`. `GET /ping` returns a 99-byte
JSON object built and validated through a 6-field response model on every request.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class Ping(BaseModel):
    id: int
    name: str
    status: str
    points: int
    tags: list[str]
    ok: bool


app = FastAPI()


@app.get("/ping", response_model=Ping)
async def ping() -> Ping:
    return Ping(
        id=42,
        name="Nguyen Van A",
        status="active",
        points=120,
        tags=["branch", "member"],
        ok=True,
    )
