"""Process settings from the environment (and CLI flags). Everything has a safe default."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_BODY_BYTES = 10 * 1024 * 1024


class Settings(BaseSettings):
    """Settings read from environment variables; ``omniroute run`` flags override them.

    Secrets left unset (``JWT_SECRET``, ``API_KEY_SECRET``, ``STORAGE_ENCRYPTION_KEY``) are
    generated on first start and kept in ``DATA_DIR`` with mode 0600.
    """

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", populate_by_name=True
    )

    port: int = Field(20128, ge=1, le=65535, validation_alias="PORT")
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("HOSTNAME", "HOST"))
    data_dir: Path = Field(Path("~/.omniroute"), validation_alias="DATA_DIR")

    initial_password: str | None = Field(None, validation_alias="INITIAL_PASSWORD")
    jwt_secret: str | None = Field(None, validation_alias="JWT_SECRET")
    api_key_secret: str | None = Field(None, validation_alias="API_KEY_SECRET")
    storage_encryption_key: str | None = Field(None, validation_alias="STORAGE_ENCRYPTION_KEY")
    auth_cookie_secure: bool = Field(False, validation_alias="AUTH_COOKIE_SECURE")
    session_hours: float = Field(24.0, gt=0, validation_alias="SESSION_HOURS")

    require_api_key: bool = Field(False, validation_alias="REQUIRE_API_KEY")

    connect_timeout: float = Field(10.0, gt=0, validation_alias="UPSTREAM_CONNECT_TIMEOUT")
    read_timeout: float = Field(300.0, gt=0, validation_alias="UPSTREAM_READ_TIMEOUT")
    heartbeat_interval: float = Field(15.0, gt=0, validation_alias="STREAM_HEARTBEAT_SECONDS")
    cooldown_seconds: float = Field(30.0, ge=0, validation_alias="ACCOUNT_COOLDOWN_SECONDS")
    account_strategy: str = Field("fill-first", validation_alias="ACCOUNT_STRATEGY")
    max_body_bytes: int = Field(MAX_BODY_BYTES, gt=0, validation_alias="MAX_BODY_BYTES")

    ledger_queue_size: int = Field(10_000, gt=0, validation_alias="LEDGER_QUEUE_SIZE")
    ledger_flush_seconds: float = Field(0.5, gt=0, validation_alias="LEDGER_FLUSH_SECONDS")
    config_poll_seconds: float = Field(1.0, gt=0, validation_alias="CONFIG_POLL_SECONDS")
    quota_refresh_seconds: float = Field(300.0, gt=0, validation_alias="QUOTA_REFRESH_SECONDS")
    access_log: bool = Field(False, validation_alias="ACCESS_LOG")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")

    # Request logs (off by default): redacted upstream request/response bodies in DATA_DIR/logs.
    enable_request_logs: bool = Field(False, validation_alias="ENABLE_REQUEST_LOGS")
    request_log_retention_days: float = Field(
        7.0, gt=0, validation_alias="REQUEST_LOG_RETENTION_DAYS"
    )
    request_log_max_mb: float = Field(500.0, gt=0, validation_alias="REQUEST_LOG_MAX_MB")
    request_log_max_body_bytes: int = Field(
        65536, gt=0, validation_alias="REQUEST_LOG_MAX_BODY_BYTES"
    )
    backup_import_max_bytes: int = Field(
        100 * 1024 * 1024, gt=0, validation_alias="BACKUP_IMPORT_MAX_BYTES"
    )

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def logs_dir(self) -> Path:
        """Where request logs are written."""
        return self.data_dir / "logs"

    @property
    def database_path(self) -> Path:
        """Where the SQLite database lives."""
        return self.data_dir / "storage.sqlite"

    @property
    def backups_dir(self) -> Path:
        """Where database backups (automatic, manual, before an import) are kept."""
        return self.data_dir / "backups"
