"""Keeping the bot's secrets: the webhook secret compared in constant time, secrets masked in every log record,
and files that hold data (the SQLite database, backups) readable by their owner only.

**The webhook secret.** PTB's webhook server checks the ``X-Telegram-Bot-Api-Secret-Token`` header itself, with
``token != self.secret_token`` (telegram/ext/_utils/webhookhandler.py), which stops at the first differing
character. `ConstantTimeSecret` is the secret as a ``str`` subclass whose ``==`` and ``!=`` use
``hmac.compare_digest``; Python evaluates ``token != secret`` with the *right* operand's ``__ne__`` first when its
type is a subclass of the left operand's, so PTB's own check becomes constant-time without patching PTB. The
secret is also what PTB sends to Telegram in setWebhook: as a ``str`` it is sent unchanged.

**Logs.** `SecretMask` replaces every secret (the webhook secret, the database password in plain and URL-quoted
form, the bot token) with ``***`` in a record's message, its formatted traceback and its stack. It is installed
as the log-record factory (`install_log_mask`), not on one handler or logger: a filter on a logger misses records
that propagate from its children, a filter on a handler misses every other handler, while the factory masks each
record once, when it is made, whichever logger made it and at every level, before any handler sees it.
"""

from __future__ import annotations

import hmac
import logging
import os
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:  # only the standard library at run time: `partybot ask` starts without SQLAlchemy or pydantic
    from bot.config import Settings

MASK = "***"
MIN_SECRET_CHARS = 4  # shorter "secrets" would mask ordinary words everywhere and protect nothing
PRIVATE_FILE_MODE = 0o600


# --- the webhook secret ----------------------------------------------------------------------------------------------


class ConstantTimeSecret(str):
    """A secret string that compares equal only to itself, in time independent of where the strings differ."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(str.encode(self), str.encode(other))

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"ConstantTimeSecret({MASK})"


def webhook_secret_token(settings: Settings) -> ConstantTimeSecret | None:
    """The secret `run_webhook` gives PTB (see the module docstring); None when none is set."""
    return None if settings.webhook_secret is None else ConstantTimeSecret(settings.webhook_secret)


# --- logs --------------------------------------------------------------------------------------------------------


def secrets_of(settings: Settings) -> set[str]:
    """What must never be logged: the webhook secret, the database password (as typed and as it appears in a URL)
    and the bot token (SecretMask drops the empty and too short ones and masks the longest first)."""
    found = {settings.webhook_secret, settings.telegram_bot_token}
    try:
        in_url = urlsplit(settings.database_url).password  # as written in the URL (percent-encoded)
    except ValueError:
        in_url = None
    if in_url:
        found |= {in_url, unquote(in_url), quote(unquote(in_url), safe="")}
    return {secret for secret in found if secret}


class SecretMask(logging.Filter):
    """Masks secrets in a record in place (message, traceback, stack) and always lets it through."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # longest first, so that a secret containing another is masked whole
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        masked = self.mask(message)
        if masked != message or record.args:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


_installed: SecretMask | None = None
_previous_factory: Callable[..., logging.LogRecord] | None = None


def install_log_mask(settings: Settings) -> SecretMask:
    """Mask ``settings``' secrets in every log record from now on (idempotent: a second call updates the secrets)."""
    global _installed, _previous_factory
    if _installed is not None:
        _installed.set_secrets(secrets_of(settings))
        return _installed
    mask = SecretMask(secrets_of(settings))
    previous = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        mask.filter(record)
        return record

    logging.setLogRecordFactory(masked_record)
    _installed, _previous_factory = mask, previous
    return mask


def remove_log_mask() -> None:
    """Undo `install_log_mask` (tests)."""
    global _installed, _previous_factory
    if _previous_factory is not None:
        logging.setLogRecordFactory(_previous_factory)
    _installed, _previous_factory = None, None


# --- files ---------------------------------------------------------------------------------------------------------


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists (then it is left as it is); True if created.

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's permissions, so those follow."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    os.close(descriptor)
    return True
