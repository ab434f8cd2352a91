"""The process's resources: database, lean reader, login helpers, SMS and push gateways, rate
limiter, file storage.

Built once per process by whoever runs the code (the API's lifespan, the worker, the CLI) and
closed when it stops. Nothing here knows about HTTP: the worker and the CLI use it without
importing the web layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.cache import TTLCache
from app.core.config import Settings
from app.core.db import Database, Reader, Writer, build_reader, build_writer
from app.core.ratelimit import RateLimiter, build_rate_limiter
from app.core.security import PasswordHasher, TokenCodec
from app.integrations.fcm import PushGateway, build_push_gateway
from app.integrations.firebase_auth import (
    DisabledVerifier,
    PhoneTokenVerifier,
    build_phone_verifier,
)
from app.integrations.geoip import build_geoip
from app.integrations.sms import SmsGateway, build_sms_gateway
from app.integrations.storage import Storage, build_storage
from app.services import deployment_settings
from app.services.auth.common import Auth
from app.services.content.coverage import BranchMembers
from app.services.orgs import OrgTarget


@dataclass
class Resources:
    """Everything a request, a job or a command may use that lives as long as the process."""

    settings: Settings
    db: Database
    reader: Reader
    # The lean unit of work of the hottest writes (`api.deps.LeanUnitDep`).
    writer: Writer
    auth: Auth
    sms: SmsGateway
    limiter: RateLimiter
    storage: Storage
    push: PushGateway
    # Firebase Phone Auth ID tokens (`POST /auth/firebase`); off unless FIREBASE_AUTH__ENABLED.
    firebase_auth: PhoneTokenVerifier = field(default_factory=DisabledVerifier)
    # Org id -> (path, kind) for the guards. A subtree move rewrites paths; this TTL bounds how
    # long another process may use an old path.
    org_targets: TTLCache[int, OrgTarget] = field(default_factory=lambda: TTLCache(ttl_s=30))
    # Members per branch for the document coverage report (recounted every few minutes).
    branch_members: BranchMembers = field(default_factory=BranchMembers)
    # The apps' configuration (read at every app start).
    # The deployment's settings documents (the apps' configuration, the rules), per process.
    app_config: deployment_settings.Cache = field(default_factory=deployment_settings.new_cache)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        db: Database | None = None,
        reader: Reader | None = None,
        writer: Writer | None = None,
    ) -> Resources:
        limiter = build_rate_limiter(settings.redis_url)
        db = db or Database.open(settings)
        return cls(
            settings=settings,
            db=db,
            reader=reader or build_reader(settings, db),
            writer=writer or build_writer(settings, db),
            auth=Auth(
                settings.auth,
                settings.sms,
                TokenCodec(settings.auth),
                PasswordHasher(settings.auth),
                limiter,
                timezone=settings.rules.timezone,
                geoip=build_geoip(settings.geoip),
            ),
            sms=build_sms_gateway(settings.sms),
            limiter=limiter,
            storage=build_storage(settings),
            push=build_push_gateway(settings.fcm),
            firebase_auth=build_phone_verifier(settings.firebase_auth),
        )

    async def aclose(self) -> None:
        await self.push.aclose()
        self.firebase_auth.close()
        self.auth.geoip.close()
        await self.sms.aclose()
        await self.storage.aclose()
        await self.limiter.aclose()
        await self.reader.aclose()
        await self.writer.aclose()
        await self.db.close()
