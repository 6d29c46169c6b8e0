"""Secrets stay secret: the webhook secret is compared in constant time by the server that checks it, the webhook
secret and the database password never reach a log line at any level, and the SQLite file is its owner's alone."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Bot
from telegram.ext import Application
from telegram.ext._utils.webhookhandler import WebhookAppClass
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from bot import app as bot_app
from bot import secrecy
from bot.config import Settings
from bot.db import open_database, upgrade_database

SECRET = "hook-Secret_4b9f2c"
PASSWORD = "pa:ss@w/rd%7"  # URL-quoted in DATABASE_URL as pa%3Ass%40w%2Frd%257
PG_URL = "postgresql+asyncpg://partybot:pa%3Ass%40w%2Frd%257@db.internal:5432/partybot"
TOKEN = "123456:AAFakeTokenForTests_abcdefghijklmno"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# --- the webhook secret ----------------------------------------------------------------------------------------


def test_the_secret_compares_equal_only_to_itself() -> None:
    secret = secrecy.ConstantTimeSecret(SECRET)
    # PTB writes ``token != secret_token`` with the received token on the left: the reflected side counts
    assert secret == SECRET and SECRET == secret  # noqa: SIM300
    assert (SECRET != secret) is False  # noqa: SIM300
    assert secret != "hook-Secret_4b9f2d" and "" != secret and "hook" != secret  # noqa: SIM300
    assert str(secret) == SECRET and "***" in repr(secret)


async def test_the_webhook_server_checks_the_secret_with_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """`run_webhook` hands PTB a secret that PTB's own server compares with hmac.compare_digest."""
    captured: dict[str, Any] = {}
    monkeypatch.setattr(Application, "run_webhook", lambda self, **kwargs: captured.update(kwargs))
    bot_app.run_webhook(
        settings(
            TELEGRAM_BOT_TOKEN=TOKEN,
            PARTYBOT_WEBHOOK_URL="https://bot.example.org/hook",
            PARTYBOT_WEBHOOK_SECRET=SECRET,
        )
    )
    compared: list[tuple[object, object]] = []
    real_compare = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    queue: asyncio.Queue[object] = asyncio.Queue()
    server = HTTPServer(WebhookAppClass("/hook", Bot(TOKEN), queue, secret_token=captured["secret_token"]))
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    update = b'{"update_id": 1}'
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            headers = {"Content-Type": "application/json"}
            wrong = await client.post(
                "/hook", content=update, headers=headers | {"X-Telegram-Bot-Api-Secret-Token": "hook-Secret_4b9f2d"}
            )
            right = await client.post(
                "/hook", content=update, headers=headers | {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
    finally:
        server.stop()
    assert (wrong.status_code, right.status_code) == (403, 200)
    assert len(compared) == 2
    assert queue.qsize() == 1


# --- logs ------------------------------------------------------------------------------------------------------


@pytest.fixture
def masked() -> Iterator[None]:
    """Install the mask the way `partybot` does at start-up; put the standard record factory back afterwards."""
    factory = logging.getLogRecordFactory()
    secrecy.install_log_mask(settings(TELEGRAM_BOT_TOKEN=TOKEN, DATABASE_URL=PG_URL, PARTYBOT_WEBHOOK_SECRET=SECRET))
    try:
        yield
    finally:
        secrecy.remove_log_mask()
        logging.setLogRecordFactory(factory)


def test_secrets_of_the_settings() -> None:
    found = secrecy.secrets_of(settings(TELEGRAM_BOT_TOKEN=TOKEN, DATABASE_URL=PG_URL, PARTYBOT_WEBHOOK_SECRET=SECRET))
    assert {SECRET, PASSWORD, "pa%3Ass%40w%2Frd%257", TOKEN} <= set(found)


@pytest.mark.usefixtures("masked")
def test_secrets_are_masked_in_log_records_at_every_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ptb = logging.getLogger("telegram.ext.ExtBot")
    ptb.debug("Calling Bot API endpoint `%s` with parameters `%s`", "setWebhook", {"secret_token": SECRET})
    logging.getLogger("bot.db").info("connecting to %s", PG_URL)
    logging.getLogger("bot.services").warning("password %s rejected", PASSWORD)
    logging.getLogger("partybot").error(f"plain message with {SECRET} in it")
    try:
        raise RuntimeError(f"could not connect to {PG_URL}")
    except RuntimeError:
        logging.getLogger("bot.app").exception("start-up failed")
    logging.getLogger("bot.app").critical("token %s", TOKEN, stack_info=True)

    assert len(caplog.records) == 6
    text = caplog.text
    for secret in (SECRET, PASSWORD, "pa%3Ass%40w%2Frd%257", TOKEN):
        assert secret not in text
        assert all(secret not in record.getMessage() for record in caplog.records)
    assert text.count("***") >= 5
    assert "RuntimeError: could not connect to postgresql+asyncpg://partybot:***@db.internal" in text


@pytest.mark.usefixtures("masked")
def test_the_cli_formatter_masks_what_the_factory_already_masked(caplog: pytest.LogCaptureFixture) -> None:
    from bot.cli import KeyValueFormatter

    caplog.set_level(logging.DEBUG)
    try:
        raise RuntimeError(f"could not use {SECRET}")
    except RuntimeError:
        logging.getLogger("x").exception("failed with secret=%s", SECRET)
    (record,) = caplog.records
    line = KeyValueFormatter().format(record)  # no secrets of its own: the record was masked when it was made
    assert SECRET not in line
    assert line.count("***") == 2  # the message and the traceback
    assert "RuntimeError: could not use ***" in line


# --- the SQLite file -------------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_sqlite_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        path = tmp_path / "data" / "partybot.db"
        await upgrade_database(f"sqlite+aiosqlite:///{path}")
        assert _mode(path) == 0o600
        other = tmp_path / "unmigrated.db"
        async with open_database(f"sqlite+aiosqlite:///{other}", migrate=False) as sessions, sessions() as session:
            from sqlalchemy import text

            await session.execute(text("CREATE TABLE t (x INTEGER)"))
            await session.commit()
            assert _mode(tmp_path / "unmigrated.db-wal") == 0o600
        assert _mode(other) == 0o600
    finally:
        os.umask(previous)
