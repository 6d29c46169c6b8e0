"""Delivery and webhook settings: defaults, parsing, and one-line errors for bad values."""

from __future__ import annotations

from datetime import time

import pytest

from bot.cli import main
from bot.config import ConfigError, Settings, load_settings


def _settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


def test_defaults() -> None:
    settings = _settings()
    assert settings.quiet_hours == (time(22), time(8))
    assert (settings.delivery_interval, settings.delivery_lease, settings.send_timeout) == (2.0, 60.0, 10.0)
    assert (settings.webhook_listen, settings.webhook_port, settings.webhook_url, settings.webhook_secret) == (
        "0.0.0.0",
        8443,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("22-8", (time(22), time(8))), ("21:30-07:15", (time(21, 30), time(7, 15))), ("off", None), ("", None)],
)
def test_quiet_hours(spec: str, expected: tuple[time, time] | None) -> None:
    assert _settings(PARTYBOT_QUIET_HOURS=spec).quiet_hours == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PARTYBOT_QUIET_HOURS", "22-25", "should look like 22-8"),
        ("PARTYBOT_QUIET_HOURS", "8-8", "should look like 22-8"),
        ("PARTYBOT_WEBHOOK_SECRET", "has space", "A-Z a-z 0-9 _ -"),
        ("PARTYBOT_WEBHOOK_SECRET", "x" * 257, "A-Z a-z 0-9 _ -"),
        ("PARTYBOT_WEBHOOK_URL", "bot.example.org/hook", "https://"),
        ("PARTYBOT_WEBHOOK_PORT", "70000", "port number"),
        ("PARTYBOT_DELIVERY_LEASE", "5", "at least 6 seconds"),
        ("PARTYBOT_DELIVERY_BATCH", "0", "at least 1"),
        ("PARTYBOT_SEND_RATE", "-1", "positive"),
    ],
)
def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.chdir("/")  # no .env file
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert f": {name}: " in str(raised.value) and message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_lease_must_cover_three_delivery_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTYBOT_DELIVERY_INTERVAL", "5")
    monkeypatch.setenv("PARTYBOT_DELIVERY_LEASE", "10")
    monkeypatch.chdir("/")
    with pytest.raises(ConfigError, match="PARTYBOT_DELIVERY_LEASE: must be at least 6 seconds and 3 ×"):
        load_settings()


def test_run_webhook_without_url_or_secret_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir("/")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("PARTYBOT_WEBHOOK_URL", "https://bot.example.org/hook")
    monkeypatch.delenv("PARTYBOT_WEBHOOK_SECRET", raising=False)
    assert main(["run", "--webhook"]) == 2
    assert "PARTYBOT_WEBHOOK_SECRET" in capsys.readouterr().err
