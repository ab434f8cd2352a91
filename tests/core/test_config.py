"""Settings: environment parsing, the prod safety checks and the dev secret."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import (
    AuthSettings,
    ConfigError,
    Env,
    OpsSettings,
    Settings,
    SmsSettings,
    StorageSettings,
    async_database_url,
)

STRONG_SECRET = secrets.token_urlsafe(48)
HTTP_SMS = SmsSettings(gateway="http", url="https://sms.example.vn/v1/sms")
SETTINGS_ENV_NAMES = frozenset({"ENV", "DATABASE_URL", "REDIS_URL", "DATA_DIR", "PUBLIC_BASE_URL"})
SETTINGS_GROUPS = ("AUTH", "SMS", "DB", "API", "OPS", "LOG", "RULES", "STORAGE", "UPLOAD")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets reaches Settings: no outer variables, no stray `.env`."""
    for name in list(os.environ):
        upper = name.upper()
        if (
            upper in SETTINGS_ENV_NAMES
            or upper in SETTINGS_GROUPS
            or upper.startswith(tuple(f"{group}__" for group in SETTINGS_GROUPS))
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def prod(
    secret: str = STRONG_SECRET,
    sms: SmsSettings = HTTP_SMS,
    public_base_url: str = "https://sotay.example.vn",
) -> Settings:
    return Settings(
        env=Env.PROD,
        auth=AuthSettings(secret_key=SecretStr(secret)),
        sms=sms,
        public_base_url=public_base_url,
    )


def test_env_defaults_to_prod() -> None:
    assert Settings().env is Env.PROD


def test_prod_accepts_strong_secret_and_http_gateway() -> None:
    settings = prod()

    assert settings.checked() is settings


@pytest.mark.parametrize(
    "secret",
    ["", "change-me", "CHANGEME", "secret", "dev", "test", "too-short-but-random-9f2c"],
)
def test_prod_refuses_placeholder_or_short_secret(secret: str) -> None:
    with pytest.raises(ConfigError, match="AUTH__SECRET_KEY") as info:
        prod(secret=secret).checked()

    assert "SMS__GATEWAY" not in str(info.value)


def test_prod_refuses_console_sms_gateway() -> None:
    with pytest.raises(ConfigError, match="SMS__GATEWAY=console") as info:
        prod(sms=SmsSettings(gateway="console")).checked()

    assert "AUTH__SECRET_KEY" not in str(info.value)


def test_prod_error_from_environment_names_every_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH__SECRET_KEY", "change-me")

    with pytest.raises(ConfigError) as info:
        Settings().checked()

    assert "AUTH__SECRET_KEY" in str(info.value)
    assert "SMS__GATEWAY=console" in str(info.value)
    assert "change-me" not in str(info.value)


@pytest.mark.parametrize("token", ["change-me", "short-metrics-token"])
def test_prod_refuses_a_weak_metrics_token(token: str) -> None:
    settings = prod().model_copy(update={"ops": OpsSettings(metrics_token=SecretStr(token))})

    with pytest.raises(ConfigError, match="OPS__METRICS_TOKEN") as info:
        settings.checked()

    assert token not in str(info.value)


def test_prod_accepts_no_metrics_token_or_a_strong_one() -> None:
    strong = OpsSettings(metrics_token=SecretStr(secrets.token_urlsafe(32)))

    assert prod().checked()
    assert prod().model_copy(update={"ops": strong}).checked()


def test_http_gateway_without_url_is_refused_in_any_env() -> None:
    settings = Settings(env=Env.DEV, sms=SmsSettings(gateway="http"))

    with pytest.raises(ConfigError, match="SMS__URL"):
        settings.checked()


def test_dev_allows_console_gateway_and_generated_secret(tmp_path: Path) -> None:
    settings = Settings(env=Env.DEV, data_dir=tmp_path / "var").with_dev_secret()

    assert settings.checked() is settings


def test_dev_secret_is_generated_and_persisted(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"

    settings = Settings(env=Env.DEV, data_dir=data_dir).with_dev_secret()

    secret = settings.auth.secret_key.get_secret_value()
    path = data_dir / "dev-secret"
    assert len(secret.encode()) >= 32
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_dev_secret_is_reused_by_the_next_start(tmp_path: Path) -> None:
    first = Settings(env=Env.DEV, data_dir=tmp_path).with_dev_secret()

    second = Settings(env=Env.DEV, data_dir=tmp_path).with_dev_secret()

    assert second.auth.secret_key.get_secret_value() == first.auth.secret_key.get_secret_value()


def test_an_empty_or_short_dev_secret_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "dev-secret").write_text("short\n")
    settings = Settings(env=Env.DEV, data_dir=tmp_path).with_dev_secret()
    secret = settings.auth.secret_key.get_secret_value()
    assert len(secret.encode()) >= 32
    assert (tmp_path / "dev-secret").read_text().strip() == secret
    assert (tmp_path / "dev-secret").stat().st_mode & 0o777 == 0o600


def test_dev_secret_does_not_replace_configured_secret(tmp_path: Path) -> None:
    settings = Settings(
        env=Env.DEV, data_dir=tmp_path, auth=AuthSettings(secret_key=SecretStr(STRONG_SECRET))
    )

    assert settings.with_dev_secret().auth.secret_key.get_secret_value() == STRONG_SECRET
    assert not (tmp_path / "dev-secret").exists()


def test_prod_never_generates_a_secret(tmp_path: Path) -> None:
    settings = Settings(env=Env.PROD, data_dir=tmp_path).with_dev_secret()

    assert settings.auth.secret_key.get_secret_value() == ""
    assert not (tmp_path / "dev-secret").exists()


def test_nested_groups_are_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH__ACCESS_TTL_S", "900")
    monkeypatch.setenv("SMS__RETRIES", "4")
    monkeypatch.setenv("ENV", "dev")

    settings = Settings()

    assert settings.auth.access_ttl_s == 900
    assert settings.auth.refresh_ttl_s == AuthSettings().refresh_ttl_s  # others keep defaults
    assert settings.sms.retries == 4
    assert settings.env is Env.DEV


def test_connection_urls_are_flat_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://handbook@db:5432/handbook")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")

    settings = Settings()

    assert settings.database_url == "postgresql+asyncpg://handbook@db:5432/handbook"
    assert settings.redis_url == "redis://cache:6379/0"
    assert not settings.is_sqlite


def test_access_ttl_above_fifteen_minutes_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH__ACCESS_TTL_S", "901")

    with pytest.raises(ValidationError) as info:
        Settings()

    assert [error["loc"] for error in info.value.errors()] == [("auth", "access_ttl_s")]


def test_a_password_lockout_cannot_be_set_beyond_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH__PASSWORD_LOCK_S", "3601")

    with pytest.raises(ValidationError) as info:
        Settings()

    assert [error["loc"] for error in info.value.errors()] == [("auth", "password_lock_s")]


def test_default_database_is_embedded_sqlite() -> None:
    settings = Settings()

    assert settings.is_sqlite
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.redis_url is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///./var/handbook.db", "sqlite+aiosqlite:///./var/handbook.db"),
        ("sqlite:////srv/handbook.db", "sqlite+aiosqlite:////srv/handbook.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ],
)
def test_async_database_url_picks_async_driver(url: str, expected: str) -> None:
    assert async_database_url(url) == expected


def test_settings_normalise_database_url() -> None:
    settings = Settings(database_url="sqlite:///handbook.db")

    assert settings.database_url == "sqlite+aiosqlite:///handbook.db"
    assert settings.is_sqlite


@pytest.mark.parametrize(
    "url",
    [
        "https://sotay.example.vn",
        "https://sotay.example.vn/handbook",
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
    ],
)
def test_prod_accepts_https_or_localhost_public_base_url(url: str) -> None:
    assert prod(public_base_url=url).checked().public_base_url == url


@pytest.mark.parametrize(
    "url", ["http://sotay.example.vn", "http://10.0.0.5:8000", "http://127.0.0.1.example.vn"]
)
def test_prod_refuses_plain_http_public_base_url(url: str) -> None:
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL must be the deployment's https://"):
        prod(public_base_url=url).checked()


@pytest.mark.parametrize(
    "url", ["sotay.example.vn", "ftp://sotay.example.vn", "https://", "https://x.vn/?a=1", ""]
)
def test_public_base_url_must_be_an_http_address_in_any_env(url: str) -> None:
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL must be an http"):
        Settings(env=Env.DEV, public_base_url=url).checked()


def test_public_base_url_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://sotay.example.vn/")

    assert Settings().public_base_url == "https://sotay.example.vn"


def test_default_public_base_url_is_the_local_server() -> None:
    assert Settings().public_base_url == "http://127.0.0.1:8000"


def test_storage_and_upload_settings_are_read_from_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STORAGE__BACKEND", "s3")
    monkeypatch.setenv("STORAGE__S3_ENDPOINT_URL", "https://s3.example.vn")
    monkeypatch.setenv("STORAGE__S3_BUCKET", "handbook-files")
    monkeypatch.setenv("STORAGE__S3_SECRET_ACCESS_KEY", "s3-secret-value")
    monkeypatch.setenv("STORAGE__S3_ADDRESSING_STYLE", "virtual")
    monkeypatch.setenv("UPLOAD__DOCUMENT_MAX_MB", "80")
    monkeypatch.setenv("DATA_DIR", "/srv/handbook")

    settings = Settings()

    assert settings.storage.backend == "s3"
    assert settings.storage.s3_endpoint_url == "https://s3.example.vn"
    assert settings.storage.s3_bucket == "handbook-files"
    assert settings.storage.s3_addressing_style == "virtual"
    assert settings.storage.s3_secret_access_key.get_secret_value() == "s3-secret-value"
    assert "s3-secret-value" not in repr(settings)
    assert settings.upload.document_max_mb == 80
    assert settings.upload.media_max_mb == 500  # others keep defaults
    assert settings.storage_dir == Path("/srv/handbook/storage")
    assert settings.upload_tmp_dir == Path("/srv/handbook/tmp")


def test_s3_backend_needs_a_bucket() -> None:
    settings = Settings(env=Env.DEV, storage=StorageSettings(backend="s3"))

    with pytest.raises(ConfigError, match="STORAGE__S3_BUCKET"):
        settings.checked()


def test_s3_part_size_below_the_s3_minimum_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE__S3_PART_SIZE_MB", "4")

    with pytest.raises(ValidationError) as info:
        Settings()

    assert [error["loc"] for error in info.value.errors()] == [("storage", "s3_part_size_mb")]
