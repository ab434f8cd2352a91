"""Authorization rows: uploads (owner only) and the storage's signed links (the link is the
credential)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Upload
from app.models.base import utcnow
from app.resources import Resources
from tests import samples
from tests.authz.harness import Call, Context, Row, everyone, pick, table

UPLOAD = "upload.not_found"
# Uploads of members without roles in B1, B3 and B4: only their owners (tested in
# tests/api/test_uploads.py) and deployment admins may read them.
OTHERS_UPLOADS = table(
    member="403 404 404",
    secretary="403 404 404",
    deputy="403 404 404",
    committee="403 403 404",
    officer_c1="403 403 404",
    approver="403 403 404",
    officer_root="403 403 403",
    editor="403 403 403",
    admin="200 200 200",
)
ANY_MEMBER_CREATES = table("201 201 201")


async def setup(ctx: Context, session: AsyncSession, resources: Resources) -> None:
    t = ctx.tree
    data = samples.pdf()
    uploads: dict[str, int] = {}
    links: dict[str, str] = {}
    for target, owner in (("own", t.exempt), ("near", t.teacher), ("far", t.outsider)):
        key = f"uploads/document/authz/{target}.pdf"
        info = await resources.storage.put_stream(key, _once(data), content_type="application/pdf")
        upload = Upload(
            member_id=owner.id,
            purpose="document",
            status="ready",
            storage_key=key,
            filename="Văn bản.pdf",
            content_type="application/pdf",
            size=info.size,
            created_at=utcnow(),
            expires_at=utcnow().replace(year=2100),
        )
        session.add(upload)
        await session.flush()
        uploads[target] = upload.id
        links[f"get-{target}"] = urlsplit(await resources.storage.presign_get(key)).path
        put = await resources.storage.presign_put(
            f"uploads/media/authz/{target}.mp4", content_type="video/mp4", max_bytes=1 << 20
        )
        links[f"put-{target}"] = urlsplit(put.url).path
    ctx.extra["uploads"] = uploads
    ctx.extra["links"] = links


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _upload(ctx: Context, target: str) -> int:
    return int(ctx.extra["uploads"][target])


ROWS = {
    "create_upload": Row(
        lambda c, t: Call(
            "POST",
            "/api/v1/uploads?purpose=image",
            content=samples.png(),
            headers={"Content-Type": "image/png"},
        ),
        ANY_MEMBER_CREATES,
    ),
    "create_presigned_upload": Row(
        lambda c, t: Call(
            "POST",
            "/api/v1/uploads/presigned",
            {"purpose": "media", "content_type": pick(t, "video/mp4", "audio/mpeg", "image/png")},
        ),
        ANY_MEMBER_CREATES,
    ),
    "get_upload": Row(
        lambda c, t: Call("GET", f"/api/v1/uploads/{_upload(c, t)}"), OTHERS_UPLOADS, UPLOAD
    ),
    "complete_upload": Row(
        lambda c, t: Call("POST", f"/api/v1/uploads/{_upload(c, t)}/complete"),
        OTHERS_UPLOADS,
        UPLOAD,
    ),
    "download_upload": Row(
        lambda c, t: Call("GET", f"/api/v1/uploads/{_upload(c, t)}/content"),
        OTHERS_UPLOADS,
        UPLOAD,
    ),
    "download_signed_file": Row(
        lambda c, t: Call("GET", c.extra["links"][f"get-{t}"]), everyone("200 200 200")
    ),
    "upload_signed_file": Row(
        lambda c, t: Call(
            "PUT",
            c.extra["links"][f"put-{t}"],
            content=samples.mp4(),
            headers={"Content-Type": "video/mp4"},
        ),
        everyone("204 204 204"),
    ),
}
