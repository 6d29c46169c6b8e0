"""Settings from the environment or a .env file (pydantic-settings), validated once at start-up."""

from __future__ import annotations

import re
from datetime import time
from functools import cached_property
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///partybot.db"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_QUIET_HOURS = re.compile(r"(\d{1,2})(?::(\d{2}))?-(\d{1,2})(?::(\d{2}))?")
_QUIET_HOURS_OFF = ("", "off", "none", "0")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: str | None = Field(default=None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_api_base_url: str = Field(default=DEFAULT_API_BASE_URL, validation_alias="TELEGRAM_API_BASE_URL")
    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    timezone_name: str = Field(default="Asia/Shanghai", validation_alias="PARTYBOT_TZ")
    log_level: str = Field(default="INFO", validation_alias="PARTYBOT_LOG_LEVEL")
    # webhook mode (`partybot run --webhook`): several instances behind a load balancer
    webhook_url: str | None = Field(default=None, validation_alias="PARTYBOT_WEBHOOK_URL")
    webhook_listen: str = Field(default="0.0.0.0", validation_alias="PARTYBOT_WEBHOOK_LISTEN")
    webhook_port: int = Field(default=8443, validation_alias="PARTYBOT_WEBHOOK_PORT")
    webhook_secret: str | None = Field(default=None, validation_alias="PARTYBOT_WEBHOOK_SECRET")
    # reminder delivery
    quiet_hours_spec: str = Field(default="22-8", validation_alias="PARTYBOT_QUIET_HOURS")
    delivery_interval: float = Field(default=2.0, validation_alias="PARTYBOT_DELIVERY_INTERVAL")
    plan_interval: float = Field(default=300.0, validation_alias="PARTYBOT_PLAN_INTERVAL")
    delivery_lease: float = Field(default=60.0, validation_alias="PARTYBOT_DELIVERY_LEASE")
    delivery_batch: int = Field(default=50, validation_alias="PARTYBOT_DELIVERY_BATCH")
    delivery_concurrency: int = Field(default=8, validation_alias="PARTYBOT_DELIVERY_CONCURRENCY")
    send_rate: float = Field(default=30.0, validation_alias="PARTYBOT_SEND_RATE")
    # updates handled at once (different people; one person's updates stay in order: bot/update_order.py)
    concurrent_updates: int = Field(default=64, validation_alias="PARTYBOT_CONCURRENT_UPDATES")

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        bot_id, _, secret = value.partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError("should look like 123456:ABC… (the token from @BotFather)")
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("timezone_name")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a known time zone (e.g. Asia/Shanghai)") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("https://", "http://")) or not urlsplit(value).hostname:
            raise ValueError("must be the public https:// address Telegram posts updates to")
        return value

    @field_validator("webhook_port")
    @classmethod
    def _webhook_port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError("must be a port number (1–65535)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _WEBHOOK_SECRET.fullmatch(value):
            raise ValueError("must be 1–256 characters of A-Z a-z 0-9 _ -")
        return value

    @field_validator("quiet_hours_spec")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in _QUIET_HOURS_OFF and _parse_quiet_hours(value) is None:
            raise ValueError("should look like 22-8 or 22:00-08:00 (or off)")
        return value

    @field_validator("delivery_interval", "plan_interval", "send_rate")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be a positive number")
        return value

    @field_validator("delivery_batch", "delivery_concurrency", "concurrent_updates")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("delivery_lease")
    @classmethod
    def _lease_covers_runs(cls, value: float, info: ValidationInfo) -> float:
        # declared after delivery_interval, so that one is validated (and present unless invalid) by now
        if value < max(6.0, 3 * info.data.get("delivery_interval", 0.0)):
            raise ValueError("must be at least 6 seconds and 3 × PARTYBOT_DELIVERY_INTERVAL")
        return value

    @property
    def quiet_hours(self) -> tuple[time, time] | None:
        """(start, end) in branch time, or None when switched off."""
        return None if self.quiet_hours_spec in _QUIET_HOURS_OFF else _parse_quiet_hours(self.quiet_hours_spec)

    @property
    def send_timeout(self) -> float:
        """Seconds one reminder send may take: short enough that the lease outlasts it with room to spare."""
        return min(10.0, self.delivery_lease / 3)

    @cached_property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone_name)

    @property
    def file_base_url(self) -> str:
        """The file-download base that goes with the API base (…/bot -> …/file/bot)."""
        head, _, _ = self.telegram_api_base_url.rpartition("/bot")
        return f"{head}/file/bot" if head else self.telegram_api_base_url


def _parse_quiet_hours(spec: str) -> tuple[time, time] | None:
    match = _QUIET_HOURS.fullmatch(spec)
    if match is None:
        return None
    start_hour, start_minute, end_hour, end_minute = (int(part or 0) for part in match.groups())
    if max(start_hour, end_hour) > 23 or max(start_minute, end_minute) > 59:
        return None
    start, end = time(start_hour, start_minute), time(end_hour, end_minute)
    return (start, end) if start != end else None


def load_settings() -> Settings:
    """Read and validate the settings, turning any problem into one readable line."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first.get("loc") else "setting"
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise ConfigError(f"配置错误 / configuration error: {name}: {message}") from None
