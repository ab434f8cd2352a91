"""All models, imported here so `Base.metadata` is complete for Alembic."""

from app.models.activity import MemberActivity, SmsUsage
from app.models.auth import AuthSession, LoginFailure, OtpChallenge, RefreshToken
from app.models.base import Base
from app.models.job import Job, JobStatus, WorkerHeartbeat
from app.models.member import Gender, Member, MemberStatus
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

__all__ = [
    "AuthSession",
    "Base",
    "Delivery",
    "DeliveryChannel",
    "DeliveryStatus",
    "Device",
    "DevicePlatform",
    "Gender",
    "Job",
    "JobStatus",
    "LoginFailure",
    "Member",
    "MemberActivity",
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
    "WorkerHeartbeat",
]
