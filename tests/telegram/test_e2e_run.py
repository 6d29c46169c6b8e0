"""End to end: `partybot run` as a subprocess, long-polling the fake Bot API server over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.bot_api_checks import BotApiError
from tests.fake_bot_api import FakeBotApiServer
from tests.telegram.helpers import ALICE

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST"
REPLY_TIMEOUT = 60.0  # start-up (imports, migrations, index) plus one answer; normally a few seconds
EXIT_TIMEOUT = 30.0


def test_run_answers_a_pending_question_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with FakeBotApiServer(TOKEN) as server:
        # Queued before the bot starts: pending updates are kept (drop_pending_updates=False).
        update = server.api.user_message("党员大会多久开一次", user=ALICE)
        server.api.push_update(update)
        # Flood control on the first reply: the rate limiter waits retry_after and sends again.
        server.api.fail_next("sendMessage", BotApiError(429, "Too Many Requests: retry after 1", retry_after=1))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": server.base_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
            "PTB_TIMEDELTA": "1",
            "PYTHONIOENCODING": "utf-8",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        try:
            replies = server.api.wait_for_calls("sendMessage", 1, timeout=REPLY_TIMEOUT)
            assert replies, f"no reply within {REPLY_TIMEOUT:.0f} s; bot exited with {process.poll()}"
            (reply,) = replies
            assert reply.params["chat_id"] == ALICE["id"]
            assert reply.params["parse_mode"] == "HTML"
            assert "每季度" in reply.result["text"] and "来源：《" in reply.result["text"]
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=EXIT_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=EXIT_TIMEOUT)
        calls = server.api.calls

    assert process.returncode == 0, stderr
    assert [call.status for call in calls if call.method == "sendMessage"] == [429, 200]
    methods = [call.method for call in calls]
    assert methods.index("getMe") < methods.index("setMyCommands") < methods.index("getUpdates")
    (delete_webhook,) = [call for call in calls if call.method == "deleteWebhook"]
    assert not delete_webhook.params.get("drop_pending_updates")
    polls = [call for call in calls if call.method == "getUpdates"]
    assert polls[0].params["allowed_updates"] == ["message", "callback_query", "chat_member"]
    assert polls[0].params["timeout"] > 0  # long polling
    # at shutdown the last poll acknowledges the answered update, so a restart does not answer it twice
    assert polls[-1].params.get("offset") == update["update_id"] + 1
    assert TOKEN not in stderr
    assert "Traceback" not in stderr
