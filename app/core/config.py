"""Settings: one `Settings` object with nested groups, read from the environment.

Nested groups use `__` as the delimiter (`AUTH__ACCESS_TTL_S=600`); the connection URLs stay flat
(`DATABASE_URL`, `REDIS_URL`). Defaults are the embedded mode: an SQLite file, OTP codes printed
to the log (dev only), limits kept in memory. `ENV` defaults to `prod`, where startup refuses
placeholder secrets and the console SMS gateway.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import time
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "test"})
MIN_SECRET_BYTES = 32
MIN_METRICS_TOKEN_BYTES = 24


class Env(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


class ConfigError(RuntimeError):
    """Raised at startup when the configuration is unsafe or inconsistent."""


class AuthSettings(BaseModel):
    secret_key: SecretStr = SecretStr("")
    issuer: str = "handbook"
    audience: str = "handbook-app"
    access_ttl_s: int = Field(600, ge=60, le=900)
    refresh_ttl_s: int = Field(30 * 86400, ge=3600, le=90 * 86400)
    session_max_age_s: int = Field(90 * 86400, ge=3600, le=365 * 86400)
    max_sessions: int = Field(5, ge=1, le=50)
    otp_ttl_s: int = Field(300, ge=60, le=600)
    otp_max_attempts: int = Field(5, ge=1, le=10)
    otp_cooldown_s: int = Field(60, ge=0, le=3600)
    # Per-phone limits are sliding windows of at most an hour: whoever knows a number can keep
    # its member from a new login for an hour at most (see the README's security notes).
    otp_per_hour: int = Field(5, ge=1, le=100)
    otp_failures_per_hour: int = Field(10, ge=1, le=100)
    otp_requests_per_ip_per_hour: int = Field(100, ge=1)
    login_attempts_per_ip_per_hour: int = Field(300, ge=1)
    password_failures_before_lock: int = Field(10, ge=3, le=100)
    password_lock_s: int = Field(900, ge=60, le=3600)
    password_min_length: int = Field(8, ge=8, le=64)
    # A password is set or replaced without the current one only this soon after the login
    # proved the phone by an SMS code (the step-up).
    step_up_ttl_s: int = Field(300, ge=60, le=900)
    # Argon2id cost; the floor is OWASP's minimum (19 MiB, t=2, p=1).
    argon2_memory_kib: int = Field(19456, ge=19456, le=1048576)
    argon2_time_cost: int = Field(2, ge=2, le=10)
    argon2_parallelism: int = Field(1, ge=1, le=8)
    hash_concurrency: int = Field(2, ge=1, le=16)


class SmsSettings(BaseModel):
    gateway: Literal["console", "http"] = "console"
    url: str = ""
    api_key: SecretStr = SecretStr("")
    sender: str = "SOTAYDANGVIEN"
    timeout_s: float = Field(10.0, gt=0, le=30)
    retries: int = Field(2, ge=0, le=5)
    # Unaccented on purpose: Vietnamese brandname SMS routes bill Unicode text at 70 characters a
    # segment and several carriers reject it for OTP templates. Override per deployment if needed.
    template: str = (
        "Ma xac thuc So tay dang vien: {code}. Hieu luc {minutes} phut. Khong chia se ma."
    )
    # A cost fuse: SMS a day (local day of `rules.timezone`) across the deployment; 0 = no
    # limit. Notices may use `notice_share` of it, OTP codes keep the rest, so a flood of notices
    # never blocks logins and an SMS pumper cannot spend the notices' share.
    daily_budget: int = Field(0, ge=0)
    notice_share: float = Field(0.8, ge=0, le=1)


class DatabaseSettings(BaseModel):
    # Connections per API process: pool_size + max_overflow (writes, ORM reads) + read_pool_size
    # (the lean asyncpg read path, PostgreSQL only).
    pool_size: int = Field(5, ge=1, le=200)
    max_overflow: int = Field(5, ge=0, le=200)
    read_pool_size: int = Field(8, ge=1, le=200)
    pool_timeout_s: float = Field(10.0, gt=0)
    statement_timeout_ms: int = Field(5000, ge=0)
    echo: bool = False


class WorkerSettings(BaseModel):
    """The background worker (`handbook worker`, or embedded in the API for the demo)."""

    # Run a worker inside each API process (`handbook demo` sets it; fine on SQLite and for
    # small deployments, a separate `handbook worker` otherwise).
    embedded: bool = False
    concurrency: int = Field(4, ge=1, le=64)  # jobs running at once in one process
    poll_interval_s: float = Field(1.0, gt=0, le=60)
    lease_s: int = Field(60, ge=2, le=3600)  # a job whose worker stops renewing is taken over
    heartbeat_interval_s: float = Field(10.0, gt=0, le=300)  # also renews the leases
    heartbeat_stale_s: int = Field(60, ge=5)  # `handbook worker --check` fails past this age
    shutdown_grace_s: float = Field(20.0, ge=0, le=600)  # SIGTERM: finish, then release
    max_attempts: int = Field(8, ge=1, le=100)
    backoff_base_s: float = Field(5.0, gt=0)
    backoff_max_s: float = Field(3600.0, gt=0)
    metrics_port: int = Field(0, ge=0, le=65535)  # the worker's own /metrics; 0 = off
    # Where that /metrics listens: loopback by default (no token on it; a scraper on the same
    # host or a sidecar reads it). Set 0.0.0.0 only on a private network.
    metrics_host: str = "127.0.0.1"
    housekeeping_every_s: int = Field(3600, ge=60)
    # Retention of rows nothing reads after a while (days).
    keep_otp_days: int = Field(2, ge=1)
    keep_login_failures_days: int = Field(2, ge=1)
    keep_ended_sessions_days: int = Field(30, ge=1)
    keep_finished_jobs_days: int = Field(7, ge=1)
    keep_deliveries_days: int = Field(30, ge=1)
    keep_notifications_days: int = Field(365, ge=30)


class FcmSettings(BaseModel):
    """Push through Firebase Cloud Messaging (HTTP v1). No credentials: inbox only."""

    # The deployment's service account: a path to its JSON key, or the JSON itself.
    credentials_file: Path | None = None
    credentials_json: SecretStr = SecretStr("")
    project_id: str = ""  # default: the service account's
    # Where messages go, formatted with the project id; and an override of the service
    # account's `token_uri` (tests and benchmarks point both at a local stub).
    send_url: str = "https://fcm.googleapis.com/v1/projects/{project_id}/messages:send"
    token_uri: str = ""
    # `lean`: the service account's OAuth token (google-auth, as firebase-admin gets it) and the
    # FCM v1 request over keep-alive HTTP/1.1 connections, ~0.04 ms of CPU a message;
    # `firebase-admin`: the SDK's `send_each_async`, ~4 ms a message (its httpx client), which
    # misses the push bar (docs/benchmarks/push.json).
    sender: Literal["firebase-admin", "lean"] = "lean"
    batch_size: int = Field(500, ge=1, le=500)
    connections: int = Field(32, ge=1, le=1000)  # the lean sender's keep-alive connections
    timeout_s: float = Field(10.0, gt=0, le=120)
    # Messages a second for the whole Firebase project, shared by the live workers; 0 = no cap.
    # FCM's own quota is 600,000 a minute.
    rate_per_s: float = Field(5000.0, ge=0)
    max_attempts: int = Field(5, ge=1, le=20)
    retry_base_s: float = Field(10.0, gt=0)
    max_retry_after_s: float = Field(3600.0, gt=0)


class NotifySettings(BaseModel):
    """Notices: fan-out to members, inbox, push and SMS fallback."""

    chunk_members: int = Field(500, ge=10, le=5000)  # members per delivery job
    # Unaccented on purpose (see SmsSettings.template); {title} is the notice's title.
    sms_template: str = "So tay dang vien: {title}. Mo ung dung de xem chi tiet."
    sms_max_attempts: int = Field(3, ge=1, le=10)


class ImportSettings(BaseModel):
    """Member imports and roster exports (worker jobs)."""

    batch_rows: int = Field(2000, ge=1, le=20_000)  # rows per transaction when checking/applying
    max_rows: int = Field(600_000, ge=1, le=5_000_000)  # data rows a file may have
    # Lifetime of the download links of reports and exports.
    link_ttl_s: int = Field(600, ge=30, le=86_400)


class ApiSettings(BaseModel):
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    cors_origins: list[str] = []
    # Serve /docs and /openapi.json; unset: on in dev and test, off in prod.
    docs: bool | None = None


class OpsSettings(BaseModel):
    # Bearer token a Prometheus scraper sends to read /metrics. Without one, /metrics is served
    # only in ENV=dev (the demo); elsewhere it answers 404.
    metrics_token: SecretStr = SecretStr("")


class LogSettings(BaseModel):
    level: str = "INFO"
    json_format: bool = True
    # "all": every request; "writes": non-GET requests, errors and slow requests; "off": none.
    access: Literal["all", "writes", "off"] = "writes"
    slow_ms: int = 500


class RulesSettings(BaseModel):
    """Default domain rules of the deployment; later per-org overrides build on these."""

    timezone: str = "Asia/Ho_Chi_Minh"
    quorum_ratio: float = Field(2 / 3, gt=0, le=1)
    pass_ratio: float = Field(1 / 2, gt=0, le=1)
    reminder_day_before_at: time = time(8, 0)
    reminder_hours_before: int = Field(2, ge=0, le=48)
    absence_flag_after: int = Field(3, ge=1, le=12)
    study_points_target: int = Field(200, ge=0)


class StorageSettings(BaseModel):
    """Where uploaded files live: a directory (the embedded default) or S3-compatible storage."""

    backend: Literal["local", "s3"] = "local"
    # The local backend's directory; relative paths are under DATA_DIR.
    local_dir: Path = Path("storage")
    # S3-compatible object storage (AWS S3, MinIO, Viettel/VNPT/FPT clouds, Ceph RGW).
    s3_endpoint_url: str = ""  # empty: AWS's own endpoints for s3_region
    # The address presigned URLs are made for, when clients reach the storage by another address
    # than the API does (e.g. the API uses http://minio:9000 inside the network).
    s3_presign_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    # Empty keys: boto3's own credential chain (environment, instance role).
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    # "path" works with every S3-compatible service; AWS also takes "virtual".
    s3_addressing_style: Literal["path", "virtual", "auto"] = "path"
    # Files above the threshold go up in parts of `s3_part_size_mb` (S3's minimum part is 5 MiB).
    s3_multipart_threshold_mb: int = Field(16, ge=5, le=5120)
    s3_part_size_mb: int = Field(8, ge=5, le=5120)
    # Threads talking to the storage at once per process (boto3 is synchronous).
    s3_max_threads: int = Field(8, ge=1, le=64)
    s3_timeout_s: float = Field(30.0, gt=0, le=600)
    # Lifetime of download and upload links.
    presign_get_ttl_s: int = Field(300, ge=10, le=7 * 86400)
    presign_put_ttl_s: int = Field(900, ge=60, le=7 * 86400)


class UploadSettings(BaseModel):
    """Size limits per kind of upload (MiB) and where uploads are spooled while they arrive."""

    document_max_mb: int = Field(50, ge=1, le=2048)
    image_max_mb: int = Field(10, ge=1, le=512)
    import_max_mb: int = Field(20, ge=1, le=1024)
    media_max_mb: int = Field(500, ge=1, le=5 * 1024)
    # Uploads a member may start in an hour (all purposes), and how long an upload that no area
    # has taken stays before it is deleted.
    per_member_per_hour: int = Field(60, ge=1, le=10_000)
    unattached_ttl_h: int = Field(24, ge=1, le=24 * 30)
    # Incoming files are written here before they are checked and stored; relative paths are
    # under DATA_DIR. Keep it on the local storage's filesystem so storing is a rename.
    tmp_dir: Path = Path("tmp")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        case_sensitive=False,
    )

    env: Env = Env.PROD
    database_url: str = "sqlite+aiosqlite:///./var/handbook.db"
    redis_url: str | None = None
    data_dir: Path = Path("var")
    # The deployment's public address: links and QR codes are built from it, never from the
    # address a request happened to use.
    public_base_url: str = "http://127.0.0.1:8000"
    auth: AuthSettings = AuthSettings()
    sms: SmsSettings = SmsSettings()
    db: DatabaseSettings = DatabaseSettings()
    api: ApiSettings = ApiSettings()
    ops: OpsSettings = OpsSettings()
    log: LogSettings = LogSettings()
    rules: RulesSettings = RulesSettings()
    storage: StorageSettings = StorageSettings()
    upload: UploadSettings = UploadSettings()
    worker: WorkerSettings = WorkerSettings()
    fcm: FcmSettings = FcmSettings()
    notify: NotifySettings = NotifySettings()
    imports: ImportSettings = ImportSettings()

    @model_validator(mode="after")
    def _normalise(self) -> Settings:
        self.database_url = async_database_url(self.database_url)
        self.public_base_url = self.public_base_url.rstrip("/")
        return self

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / self.storage.local_dir

    @property
    def upload_tmp_dir(self) -> Path:
        return self.data_dir / self.upload.tmp_dir

    @property
    def is_dev(self) -> bool:
        return self.env is Env.DEV

    @property
    def docs_enabled(self) -> bool:
        return self.api.docs if self.api.docs is not None else self.env is not Env.PROD

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def checked(self) -> Settings:
        """Refuse unsafe configuration (called by every entry point that serves traffic)."""
        secret = self.auth.secret_key.get_secret_value()
        problems: list[str] = []
        if self.env is Env.PROD:
            if secret.lower() in PLACEHOLDER_SECRETS or len(secret.encode()) < MIN_SECRET_BYTES:
                problems.append(
                    f"AUTH__SECRET_KEY must be a random value of at least {MIN_SECRET_BYTES} "
                    "bytes (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
            token = self.ops.metrics_token.get_secret_value()
            if token and (
                token.lower() in PLACEHOLDER_SECRETS
                or len(token.encode()) < MIN_METRICS_TOKEN_BYTES
            ):
                problems.append(
                    f"OPS__METRICS_TOKEN must be a random value of at least "
                    f"{MIN_METRICS_TOKEN_BYTES} bytes (or unset: /metrics is then not served)"
                )
            if self.sms.gateway == "console":
                problems.append(
                    "SMS__GATEWAY=console prints OTP codes to the log and is refused in ENV=prod; "
                    "set SMS__GATEWAY=http with SMS__URL and SMS__API_KEY"
                )
            if not is_https_or_localhost(self.public_base_url):
                problems.append(
                    "PUBLIC_BASE_URL must be the deployment's https:// address (links to files "
                    "and QR codes are built from it); http:// is accepted for localhost only"
                )
        if self.sms.gateway == "http" and not self.sms.url:
            problems.append("SMS__GATEWAY=http needs SMS__URL")
        if not is_base_url(self.public_base_url):
            problems.append(
                "PUBLIC_BASE_URL must be an http(s) address such as https://sotay.example.vn"
            )
        if self.storage.backend == "s3" and not self.storage.s3_bucket:
            problems.append("STORAGE__BACKEND=s3 needs STORAGE__S3_BUCKET")
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    def with_dev_secret(self) -> Settings:
        """In dev, use (and remember) a generated secret when none is configured."""
        if self.auth.secret_key.get_secret_value() or self.env is Env.PROD:
            return self
        path = self.data_dir / "dev-secret"
        secret = path.read_text().strip() if path.exists() else ""
        if len(secret.encode()) < MIN_SECRET_BYTES:
            path.parent.mkdir(parents=True, exist_ok=True)
            secret = secrets.token_urlsafe(48)
            # Created readable by the owner only, never briefly world-readable.
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secret + "\n")
        return self.model_copy(
            update={"auth": self.auth.model_copy(update={"secret_key": SecretStr(secret)})}
        )


def async_database_url(url: str) -> str:
    """Accept the URLs operators write (`postgresql://…`, `sqlite:///…`) and pick async drivers."""
    for prefix, replacement in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(prefix):
            return replacement + url[len(prefix) :]
    return url


def is_base_url(url: str) -> bool:
    """An absolute http(s) URL with a host and no query or fragment (a path prefix is allowed)."""
    try:
        parts = urlsplit(url)
        return (
            parts.scheme in {"http", "https"}
            and bool(parts.hostname)
            and not (parts.query or parts.fragment)
        )
    except ValueError:
        return False


def is_https_or_localhost(url: str) -> bool:
    """An https URL, or an http URL whose host is this machine (`localhost`, 127.0.0.0/8, ::1)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if not host:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    return Settings()
