"""All models, imported here so `Base.metadata` is complete for Alembic."""

from app.models.audit import AuditEvent
from app.models.auth import AuthSession, LoginFailure, OtpChallenge, RefreshToken
from app.models.base import Base
from app.models.idempotency import IdempotencyKey
from app.models.member import Gender, Member, MemberStatus
from app.models.org import Org, OrgKind
from app.models.role import Role, RoleGrant
from app.models.setting import DeploymentSetting
from app.models.upload import Upload

__all__ = [
    "AuditEvent",
    "AuthSession",
    "Base",
    "DeploymentSetting",
    "Gender",
    "IdempotencyKey",
    "LoginFailure",
    "Member",
    "MemberStatus",
    "Org",
    "OrgKind",
    "OtpChallenge",
    "RefreshToken",
    "Role",
    "RoleGrant",
    "Upload",
]
