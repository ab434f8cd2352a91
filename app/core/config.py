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
    # Signs access and refresh tokens (HS256): a random value of at least 32 bytes, the same on
    # every API process.
    secret_key: SecretStr = SecretStr("")
    # The key before the last rotation, for verification only: access tokens, pending SMS codes
    # and file links it signed stay valid until they expire, so rotating logs nobody out (refresh
    # tokens are random, not signed). Remove it once an access-token lifetime has passed.
    previous_secret_key: SecretStr = SecretStr("")
    # The `iss` claim of tokens this deployment issues and accepts.
    issuer: str = "handbook"
    # The `aud` claim of tokens this deployment issues and accepts.
    audience: str = "handbook-app"
    # Lifetime of an access token (seconds).
    access_ttl_s: int = Field(600, ge=60, le=900)
    # Lifetime of a refresh token (seconds); each refresh rotates it.
    refresh_ttl_s: int = Field(30 * 86400, ge=3600, le=90 * 86400)
    # A login ends this long after it began, however often it was refreshed (seconds).
    session_max_age_s: int = Field(90 * 86400, ge=3600, le=365 * 86400)
    # Live logins a member may hold; the oldest ends when a new one starts.
    max_sessions: int = Field(5, ge=1, le=50)
    # Lifetime of an SMS login code (seconds).
    otp_ttl_s: int = Field(300, ge=60, le=600)
    # Wrong guesses a code survives before it is void.
    otp_max_attempts: int = Field(5, ge=1, le=10)
    # Seconds before the same phone can ask for another code.
    otp_cooldown_s: int = Field(60, ge=0, le=3600)
    # Per-phone limits are sliding windows of at most an hour: whoever knows a number can keep
    # its member from a new login for an hour at most (see the README's security notes).
    otp_per_hour: int = Field(5, ge=1, le=100)
    # Wrong codes for one phone in a sliding hour before code login pauses for it.
    otp_failures_per_hour: int = Field(10, ge=1, le=100)
    # Code requests from one client address in an hour (SMS pumping brake).
    otp_requests_per_ip_per_hour: int = Field(100, ge=1)
    # Login attempts from one client address in an hour (guessing brake).
    login_attempts_per_ip_per_hour: int = Field(300, ge=1)
    # Wrong passwords before password login pauses for that member (OTP login still works).
    password_failures_before_lock: int = Field(10, ge=3, le=100)
    # How long that pause lasts (seconds, at most an hour).
    password_lock_s: int = Field(900, ge=60, le=3600)
    # Shortest password a member may set.
    password_min_length: int = Field(8, ge=8, le=64)
    # A password is set or replaced without the current one only this soon after the login
    # proved the phone by an SMS code (the step-up).
    step_up_ttl_s: int = Field(300, ge=60, le=900)
    # Argon2id cost; the floor is OWASP's minimum (19 MiB, t=2, p=1).
    argon2_memory_kib: int = Field(19456, ge=19456, le=1048576)
    # Argon2id passes.
    argon2_time_cost: int = Field(2, ge=2, le=10)
    # Argon2id lanes.
    argon2_parallelism: int = Field(1, ge=1, le=8)
    # Password hashes computed at once per process (each takes the memory above). One: a
    # memory-hard hash evicts the caches the reads beside it run in, two at once cost the reads
    # a third more than one does (docs/benchmarks/notes.md, stop 29); logins queue instead.
    hash_concurrency: int = Field(1, ge=1, le=16)


class SmsSettings(BaseModel):
    # `console` prints codes to the log (dev only, refused in prod); `http` posts to the SMS gateway
    # at `SMS__URL`.
    gateway: Literal["console", "http"] = "console"
    # The SMS gateway's send endpoint (JSON POST with the phone, text and sender).
    url: str = ""
    # Bearer key for the SMS gateway.
    api_key: SecretStr = SecretStr("")
    # The brandname the SMS carries.
    sender: str = "SOTAYDANGVIEN"
    # Seconds to wait for the gateway per attempt.
    timeout_s: float = Field(10.0, gt=0, le=30)
    # Retries of a failed send (network errors and 5xx).
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
    # Share of the daily budget notices may use; OTP codes keep the rest.
    notice_share: float = Field(0.8, ge=0, le=1)


class DatabaseSettings(BaseModel):
    # Connections per API process: pool_size + max_overflow (writes, ORM reads), as many again
    # for the lean unit of work of the hottest writes (check-in, quiz submit; PostgreSQL only),
    # and twice read_pool_size (the lean asyncpg read path, PostgreSQL only).
    pool_size: int = Field(5, ge=1, le=200)
    # Extra write/ORM connections opened under load beyond the pool.
    max_overflow: int = Field(5, ge=0, le=200)
    # Connections of the lean read path in use at once (PostgreSQL only); up to twice as many stay
    # open, half of them keeping generic plans for the statements that ask for one.
    read_pool_size: int = Field(8, ge=1, le=200)
    # Seconds a request waits for a free connection before it is answered 503 `server.busy`.
    pool_timeout_s: float = Field(10.0, gt=0)
    # PostgreSQL `statement_timeout` for API queries; 0 = none.
    statement_timeout_ms: int = Field(5000, ge=0)
    # Log every SQL statement (debugging only: noisy and slow).
    echo: bool = False


class WorkerSettings(BaseModel):
    """The background worker (`handbook worker`, or embedded in the API for the demo)."""

    # Run a worker inside each API process (`handbook demo` sets it; fine on SQLite and for
    # small deployments, a separate `handbook worker` otherwise).
    embedded: bool = False
    concurrency: int = Field(4, ge=1, le=64)  # jobs running at once in one process
    # Seconds between looks for due jobs when the queue is idle.
    poll_interval_s: float = Field(1.0, gt=0, le=60)
    lease_s: int = Field(60, ge=2, le=3600)  # a job whose worker stops renewing is taken over
    heartbeat_interval_s: float = Field(10.0, gt=0, le=300)  # also renews the leases
    heartbeat_stale_s: int = Field(60, ge=5)  # `handbook worker --check` fails past this age
    shutdown_grace_s: float = Field(20.0, ge=0, le=600)  # SIGTERM: finish, then release
    # Tries of a failing job before it is dead-lettered.
    max_attempts: int = Field(8, ge=1, le=100)
    # First retry delay (seconds), doubled each try with jitter.
    backoff_base_s: float = Field(5.0, gt=0)
    # Longest retry delay (seconds).
    backoff_max_s: float = Field(3600.0, gt=0)
    metrics_port: int = Field(0, ge=0, le=65535)  # the worker's own /metrics; 0 = off
    # Where that /metrics listens: loopback by default (no token on it; a scraper on the same
    # host or a sidecar reads it). Set 0.0.0.0 only on a private network.
    metrics_host: str = "127.0.0.1"
    # Seconds between runs of the pruning job.
    housekeeping_every_s: int = Field(3600, ge=60)
    # Seconds between recounts of the study totals per org (leaderboards by unit read them).
    study_totals_every_s: int = Field(600, ge=60)
    # Seconds between refreshes of the statistics rollup (the running month each time; the API
    # answers month, quarter and year statistics from it: docs/statistics.md, "Rollups").
    stats_rollup_every_s: int = Field(300, ge=30)
    # Seconds between refreshes of the running quarter and year, and of closed periods settling.
    stats_rollup_long_every_s: int = Field(3600, ge=60)
    # Days after a period's end during which late writes (meetings closed or rated late,
    # minutes, survey answers) still refresh it; then it is counted once more and frozen.
    stats_rollup_settle_days: int = Field(7, ge=0, le=366)
    # Months back the rollup is built when missing (a new deployment, after an upgrade).
    stats_rollup_backfill_months: int = Field(12, ge=0, le=120)
    # Closed periods counted per run at most (each costs about one live root statistics).
    stats_rollup_closed_per_run: int = Field(2, ge=1, le=100)
    # PostgreSQL statement timeout (ms) of a rollup refresh, instead of DB__STATEMENT_TIMEOUT_MS
    # (a province's year counts for longer than any request may); 0 = keep that one.
    stats_rollup_statement_timeout_ms: int = Field(600_000, ge=0)
    # Retention of rows nothing reads after a while (days).
    keep_otp_days: int = Field(2, ge=1)
    # Days failed-login records are kept.
    keep_login_failures_days: int = Field(2, ge=1)
    # Days ended logins are kept.
    keep_ended_sessions_days: int = Field(30, ge=1)
    # Days finished jobs are kept.
    keep_finished_jobs_days: int = Field(7, ge=1)
    # Days push and SMS delivery records are kept.
    keep_deliveries_days: int = Field(30, ge=1)
    # Days inbox notifications are kept.
    keep_notifications_days: int = Field(365, ge=30)


class FcmSettings(BaseModel):
    """Push through Firebase Cloud Messaging (HTTP v1). No credentials: inbox only."""

    # The deployment's service account: a path to its JSON key, or the JSON itself.
    credentials_file: Path | None = None
    # The service account's JSON key itself (instead of a file).
    credentials_json: SecretStr = SecretStr("")
    project_id: str = ""  # default: the service account's
    # Where messages go, formatted with the project id; and an override of the service
    # account's `token_uri` (tests and benchmarks point both at a local stub).
    send_url: str = "https://fcm.googleapis.com/v1/projects/{project_id}/messages:send"
    # Override of the service account's OAuth token endpoint (tests and benchmarks).
    token_uri: str = ""
    # `lean`: the service account's OAuth token (google-auth, as firebase-admin gets it) and the
    # FCM v1 request over keep-alive HTTP/1.1 connections, ~0.04 ms of CPU a message;
    # `firebase-admin`: the SDK's `send_each_async`, ~4 ms a message (its httpx client), which
    # misses the push bar (docs/benchmarks/push.json).
    sender: Literal["firebase-admin", "lean"] = "lean"
    # Messages sent per batch.
    batch_size: int = Field(500, ge=1, le=500)
    connections: int = Field(32, ge=1, le=1000)  # the lean sender's keep-alive connections
    # Seconds to wait for FCM per request.
    timeout_s: float = Field(10.0, gt=0, le=120)
    # Messages a second for the whole Firebase project, shared by the live workers; 0 = no cap.
    # FCM's own quota is 600,000 a minute.
    rate_per_s: float = Field(5000.0, ge=0)
    # Tries of a message that FCM answers with a retryable error.
    max_attempts: int = Field(5, ge=1, le=20)
    # First retry delay (seconds) when FCM gives no Retry-After.
    retry_base_s: float = Field(10.0, gt=0)
    # Longest Retry-After honoured (seconds).
    max_retry_after_s: float = Field(3600.0, gt=0)


class FirebaseAuthSettings(BaseModel):
    """`POST /auth/firebase`: log in with a Firebase Phone Auth ID token (provinces that send
    their SMS through Firebase). Off by default: the endpoint answers 404."""

    enabled: bool = False  # accept Firebase ID tokens at POST /auth/firebase
    project_id: str = ""  # the Firebase project the apps sign in with (the tokens' audience)
    # Where Google's public certificates are fetched; empty: firebase-admin's own address
    # (tests point it at a local stub).
    certs_url: str = ""
    timeout_s: float = Field(10.0, gt=0, le=60)  # fetching the certificates


class GeoIPSettings(BaseModel):
    """Coarse places (city, region, country) of the addresses in a member's list of logins.

    Without a database every address is unknown."""

    # A MaxMind-format city database (`.mmdb`: GeoLite2-City, GeoIP2-City, DB-IP's city lite
    # …), read at startup; the operator keeps it current (e.g. MaxMind's geoipupdate) and
    # restarts. Unset: no places.
    database: Path | None = None
    # Languages of place names, first found wins (the databases name places in `vi` and `en`).
    languages: list[str] = ["vi", "en"]


class NotifySettings(BaseModel):
    """Notices: fan-out to members, inbox, push and SMS fallback."""

    chunk_members: int = Field(500, ge=10, le=5000)  # members per delivery job
    # Unaccented on purpose (see SmsSettings.template); {title} is the notice's title.
    sms_template: str = "So tay dang vien: {title}. Mo ung dung de xem chi tiet."
    # Tries of a notice's SMS before it is given up.
    sms_max_attempts: int = Field(3, ge=1, le=10)


class ImportSettings(BaseModel):
    """Member imports and roster exports (worker jobs)."""

    # Rows of a member file per transaction when it is checked or applied (a stopped import
    # resumes after its last committed batch).
    batch_rows: int = Field(2000, ge=1, le=20_000)
    # Data rows a member file may have (Hà Nội has about 476,000 members).
    max_rows: int = Field(600_000, ge=1, le=5_000_000)
    # Lifetime in seconds of the download links of import reports and roster exports.
    link_ttl_s: int = Field(600, ge=30, le=86_400)


class OcrSettings(BaseModel):
    """OCR of scanned PDFs (no text layer) with Tesseract, in the worker's text extraction."""

    # `auto`: used where the `command` and its language data are installed (Debian:
    # `apt install tesseract-ocr tesseract-ocr-vie`); `off`: a scan is marked `scanned`, no text.
    mode: Literal["auto", "off"] = "auto"
    # The Tesseract executable (a name on PATH or a full path).
    command: str = "tesseract"
    # Tesseract's language codes, `+`-joined (`vie`, `vie+eng`).
    languages: str = Field("vie", pattern=r"^[a-z_]{3,16}(\+[a-z_]{3,16})*$")
    # Pages read of one scan (the rest are left out and the document says so in the log).
    max_pages: int = Field(60, ge=1, le=2000)
    # Rendering resolution of a page before OCR.
    dpi: int = Field(300, ge=100, le=600)
    # Seconds one page may take before the extraction fails (and is retried with backoff).
    page_timeout_s: int = Field(120, ge=5, le=3600)


class ApiSettings(BaseModel):
    # Largest JSON request body; upload routes have their own limits (`UPLOAD__*`).
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # Origins of browser apps allowed to call the API (the admin web app's address).
    cors_origins: list[str] = []
    # Serve /docs and /openapi.json; unset: on in dev and test, off in prod.
    docs: bool | None = None


class OpsSettings(BaseModel):
    # Bearer token a Prometheus scraper sends to read /metrics. Without one, /metrics is served
    # only in ENV=dev (the demo); elsewhere it answers 404.
    metrics_token: SecretStr = SecretStr("")
    # FastAPI's own OpenTelemetry spans, metrics and logs for each request. They need an
    # OpenTelemetry SDK with an exporter in the image (e.g. `opentelemetry-sdk` and
    # `FASTAPI_OTEL_AUTO_CONFIGURE=true` with `OTEL_EXPORTER_OTLP_ENDPOINT`); off, no request
    # pays for looking for a configured provider. /metrics and the logs do not depend on it.
    opentelemetry: bool = False


class LogSettings(BaseModel):
    # `DEBUG`, `INFO`, `WARNING` or `ERROR`.
    level: str = "INFO"
    # One JSON object per line (for a log collector); false: readable text.
    json_format: bool = True
    # "all": every request; "writes": non-GET requests, errors and slow requests; "off": none.
    access: Literal["all", "writes", "off"] = "writes"
    # Requests slower than this are logged even when `LOG__ACCESS=writes`.
    slow_ms: int = 500


class RulesSettings(BaseModel):
    """Default domain rules of the deployment; later per-org overrides build on these."""

    # The deployment's local time: meeting times, reminders and daily limits use it.
    timezone: str = "Asia/Ho_Chi_Minh"
    # Share of the summoned (exemptions excluded) who must attend for a meeting to be valid; the
    # default that `handbook init` writes into the deployment's rules.
    quorum_ratio: float = Field(2 / 3, gt=0, le=1)
    # Share of the valid votes a motion needs to pass (more than this); the default for the
    # deployment's rules.
    pass_ratio: float = Field(1 / 2, gt=0, le=1)
    # Local time of the reminder sent the day before a meeting.
    reminder_day_before_at: time = time(8, 0)
    # Hours before a meeting for the second reminder; 0 = none.
    reminder_hours_before: int = Field(2, ge=0, le=48)
    # Unexcused absences in a year from which the secretary sees a member flagged (warnings
    # below it; never a sanction).
    absence_flag_after: int = Field(3, ge=1, le=12)
    # Minutes before a meeting's start from which members may check in.
    checkin_opens_before_min: int = Field(60, ge=0, le=24 * 60)
    # Minutes after a meeting's start until which members may check in.
    checkin_closes_after_min: int = Field(120, ge=0, le=24 * 60)
    # The rotating QR code: a new code every `qr_step_s`; the current and previous codes pass.
    qr_step_s: int = Field(30, ge=5, le=3600)
    # The secretary is reminded when a closed meeting has no minutes this many hours later.
    minutes_due_h: int = Field(48, ge=1, le=24 * 30)
    # Study points a member should earn in a year.
    study_points_target: int = Field(200, ge=0)
    # Study points for a document studied (read to the end).
    study_points_document: int = Field(2, ge=0, le=1000)
    # Study points for a meeting attended.
    study_points_meeting: int = Field(10, ge=0, le=1000)
    # Study points for passing a quiz, unless the quiz sets its own.
    study_points_quiz: int = Field(10, ge=0, le=1000)
    # Most study points documents studied earn a member in one local day (against gaming).
    study_points_document_daily_cap: int = Field(20, ge=0, le=10_000)
    # The largest manual award or correction (±) an officer may enter at once.
    study_points_manual_max: int = Field(100, ge=1, le=10_000)
    # Results of an anonymous survey are shown only for groups of at least this many answers.
    survey_min_group: int = Field(5, ge=2, le=100)
    # Statistics targets the per-child breakdown and the progress report mark (shares, 0-1);
    # defaults that `handbook init` writes into the deployment's rules (the deployment admin
    # edits them there): eligible members with an activated account,
    stats_target_activation: float = Field(0.95, ge=0, le=1)
    # eligible members active in the month,
    stats_target_monthly_active: float = Field(0.90, ge=0, le=1)
    # branches holding at least one meeting in the app in the period,
    stats_target_branches_meeting: float = Field(1.0, ge=0, le=1)
    # and eligible members reaching the (prorated) study points target.
    stats_target_study: float = Field(0.80, ge=0, le=1)
    # A branch needs attention when its attendance rate over held meetings is below this.
    stats_attention_attendance: float = Field(0.70, ge=0, le=1)
    # A meeting's agenda counts as posted in time when announced at least this many days ahead.
    stats_agenda_days_ahead: int = Field(3, ge=0, le=60)


class StorageSettings(BaseModel):
    """Where uploaded files live: a directory (the embedded default) or S3-compatible storage."""

    # `local`: files in a directory (one server, or a shared volume); `s3`: S3-compatible object
    # storage.
    backend: Literal["local", "s3"] = "local"
    # The local backend's directory; relative paths are under DATA_DIR.
    local_dir: Path = Path("storage")
    # S3-compatible object storage (AWS S3, MinIO, Viettel/VNPT/FPT clouds, Ceph RGW).
    s3_endpoint_url: str = ""  # empty: AWS's own endpoints for s3_region
    # The address presigned URLs are made for, when clients reach the storage by another address
    # than the API does (e.g. the API uses http://minio:9000 inside the network).
    s3_presign_endpoint_url: str = ""
    # The bucket that holds uploaded files.
    s3_bucket: str = ""
    # The bucket's region (most S3-compatible services accept any).
    s3_region: str = "us-east-1"
    # Empty keys: boto3's own credential chain (environment, instance role).
    s3_access_key_id: str = ""
    # Secret of the access key above.
    s3_secret_access_key: SecretStr = SecretStr("")
    # "path" works with every S3-compatible service; AWS also takes "virtual".
    s3_addressing_style: Literal["path", "virtual", "auto"] = "path"
    # Files above the threshold go up in parts of `s3_part_size_mb` (S3's minimum part is 5 MiB).
    s3_multipart_threshold_mb: int = Field(16, ge=5, le=5120)
    # Size of each part of a multipart upload (MiB).
    s3_part_size_mb: int = Field(8, ge=5, le=5120)
    # Threads talking to the storage at once per process (boto3 is synchronous).
    s3_max_threads: int = Field(8, ge=1, le=64)
    # Seconds to wait for the storage per call.
    s3_timeout_s: float = Field(30.0, gt=0, le=600)
    # Lifetime of download and upload links.
    presign_get_ttl_s: int = Field(300, ge=10, le=7 * 86400)
    # Lifetime of a presigned upload link (seconds).
    presign_put_ttl_s: int = Field(900, ge=60, le=7 * 86400)


class UploadSettings(BaseModel):
    """Size limits per kind of upload (MiB) and where uploads are spooled while they arrive."""

    # Largest document file (PDF, DOCX) in MiB.
    document_max_mb: int = Field(50, ge=1, le=2048)
    # Largest image in MiB.
    image_max_mb: int = Field(10, ge=1, le=512)
    # Largest member import file (.xlsx, .csv) in MiB.
    import_max_mb: int = Field(20, ge=1, le=1024)
    # Largest audio or video file in MiB (presigned uploads).
    media_max_mb: int = Field(500, ge=1, le=5 * 1024)
    # Uploads a member may start in an hour (all purposes), and how long an upload that no area
    # has taken stays before it is deleted.
    per_member_per_hour: int = Field(60, ge=1, le=10_000)
    # Hours an upload nothing has used is kept before it is deleted.
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

    # `prod` refuses placeholder secrets and the console SMS gateway; `dev` is the demo (OTP codes
    # in the log, a generated secret); `test` is the test suite's.
    env: Env = Env.PROD
    # `postgresql://user:pass@host:5432/db` in production (asyncpg is chosen for you); the SQLite
    # file is the embedded default for trying the product.
    database_url: str = "sqlite+aiosqlite:///./var/handbook.db"
    # `redis://host:6379/0`: shares rate limits and the token cache between API processes; unset:
    # kept in each process's memory (one process only).
    redis_url: str | None = None
    # Where the embedded database, the local file storage, spooled uploads and the dev secret live.
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
    firebase_auth: FirebaseAuthSettings = FirebaseAuthSettings()
    notify: NotifySettings = NotifySettings()
    imports: ImportSettings = ImportSettings()
    ocr: OcrSettings = OcrSettings()
    geoip: GeoIPSettings = GeoIPSettings()

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
        problems = self.problems()
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    def problems(self) -> list[str]:
        """What makes this configuration unsafe or inconsistent (empty: it may serve)."""
        secret = self.auth.secret_key.get_secret_value()
        problems: list[str] = []
        if self.env is Env.PROD:
            if secret.lower() in PLACEHOLDER_SECRETS or len(secret.encode()) < MIN_SECRET_BYTES:
                problems.append(
                    f"AUTH__SECRET_KEY must be a random value of at least {MIN_SECRET_BYTES} "
                    "bytes (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
            previous = self.auth.previous_secret_key.get_secret_value()
            if previous and (
                previous.lower() in PLACEHOLDER_SECRETS
                or len(previous.encode()) < MIN_SECRET_BYTES
                or previous == secret
            ):
                problems.append(
                    "AUTH__PREVIOUS_SECRET_KEY must be the former AUTH__SECRET_KEY (at least "
                    f"{MIN_SECRET_BYTES} bytes, different from the new one), or unset"
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
        if self.firebase_auth.enabled and not self.firebase_auth.project_id:
            problems.append("FIREBASE_AUTH__ENABLED needs FIREBASE_AUTH__PROJECT_ID")
        if not is_base_url(self.public_base_url):
            problems.append(
                "PUBLIC_BASE_URL must be an http(s) address such as https://sotay.example.vn"
            )
        if self.storage.backend == "s3" and not self.storage.s3_bucket:
            problems.append("STORAGE__BACKEND=s3 needs STORAGE__S3_BUCKET")
        if self.geoip.database is not None and not self.geoip.database.is_file():
            problems.append(f"GEOIP__DATABASE names no file: {self.geoip.database}")
        return problems

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
