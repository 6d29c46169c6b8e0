"""The Application fixtures of tests/telegram (the bot over the in-process Bot API), for the reminder commands."""

from __future__ import annotations

from tests.telegram.conftest import api, fixed_answerer, settings, test_bot  # noqa: F401  (fixtures reused)
