"""`Idempotency-Key` on writes: add `_: Idempotent` to a handler's parameters.

The dependency claims the key before the handler runs, as the first statement of the request's
unit of work (`SessionDep` or `LeanUnitDep`, which the route solves before it: `HandbookRoute`
checks), or answers at once: the stored response of the first request, 422 for a key reused on
another request. A duplicate of a write still running waits for it to commit, then gets its
answer. `HandbookRoute` hands the handler's response to the unit of work, which stores it in the
same transaction as the write, before its one commit. Without the header the route works as any
other.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Header, Request
from starlette.responses import Response

from app.api.deps import CurrentActor
from app.api.responses import raises
from app.api.routing import IDEMPOTENCY_MARK
from app.services import idempotency as idempotency_service
from app.services.idempotency import Claim, StoredResponse

REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotentReplay(Exception):
    """Raised by the dependency to answer with the first request's stored response."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.stored = stored


@raises({409: ["idempotency.in_flight"], 422: ["idempotency.key_reused"]})
async def claim_idempotency_key(
    request: Request,
    actor: CurrentActor,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description=(
                "Any unique string per intended write (a UUID). A retry with the same key and "
                "body gets the first response again (with `Idempotent-Replayed: true`); one "
                "sent while the first is still running waits for it and gets its response; "
                "keys are kept 24 hours."
            ),
        ),
    ] = None,
) -> Claim | None:
    if idempotency_key is None:
        return None
    body = await request.body()
    result = await idempotency_service.claim(
        request.state.unit_of_work,
        member_id=actor.member_id,
        key=idempotency_key,
        fingerprint=idempotency_service.fingerprint(request.method, request.url.path, body),
    )
    if isinstance(result, StoredResponse):
        raise IdempotentReplay(result)
    request.state.idempotency = result
    return result


setattr(claim_idempotency_key, IDEMPOTENCY_MARK, True)

Idempotent = Annotated[Claim | None, Depends(claim_idempotency_key)]


async def replay_response(_request: Request, exc: Exception) -> Response:
    stored = cast(IdempotentReplay, exc).stored
    headers = {**stored.headers, REPLAYED_HEADER: "true"}
    media_type = headers.pop("content-type", None)
    return Response(
        stored.body, status_code=stored.status_code, headers=headers, media_type=media_type
    )
