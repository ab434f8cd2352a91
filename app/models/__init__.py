"""All models, imported here so `Base.metadata` is complete for Alembic."""

from app.models.activity import MemberActivity, SmsUsage
from app.models.audit import AuditEvent
from app.models.auth import AuthSession, LoginFailure, OtpChallenge, RefreshToken
from app.models.base import Base
from app.models.idempotency import IdempotencyKey
from app.models.job import Job, JobStatus, WorkerHeartbeat
from app.models.member import Gender, Member, MemberStatus
from app.models.member_import import (
    ExportStatus,
    ImportStatus,
    MemberExport,
    MemberImport,
    MemberImportRow,
)
from app.models.notification import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    Device,
    DevicePlatform,
    Notice,
    NoticeKind,
    NoticeStatus,
    Notification,
    NotificationPreference,
)
from app.models.org import Org, OrgKind
from app.models.role import Role, RoleGrant
from app.models.setting import DeploymentSetting
from app.models.upload import Upload

__all__ = [
    "AuditEvent",
    "AuthSession",
    "Base",
    "Delivery",
    "DeliveryChannel",
    "DeliveryStatus",
    "DeploymentSetting",
    "Device",
    "DevicePlatform",
    "ExportStatus",
    "Gender",
    "IdempotencyKey",
    "ImportStatus",
    "Job",
    "JobStatus",
    "LoginFailure",
    "Member",
    "MemberActivity",
    "MemberExport",
    "MemberImport",
    "MemberImportRow",
    "MemberStatus",
    "Notice",
    "NoticeKind",
    "NoticeStatus",
    "Notification",
    "NotificationPreference",
    "Org",
    "OrgKind",
    "OtpChallenge",
    "RefreshToken",
    "Role",
    "RoleGrant",
    "SmsUsage",
    "Upload",
    "WorkerHeartbeat",
]
