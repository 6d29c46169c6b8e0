"""`partybot chat` with piped input: the real bot, in-process, answering and pressing buttons by number."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from handlers import texts

REPO = Path(__file__).resolve().parents[2]


def _chat(tmp_path: Path, lines: list[str]) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'console.db'}",
        "PTB_TIMEDELTA": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )


def test_console_answers_and_presses_buttons_by_number(tmp_path: Path) -> None:
    result = _chat(tmp_path, ["党员大会多久开一次", "1", "", "/start", "/quit", "这一行不会被读到"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(texts.CONSOLE_BANNER.splitlines()[0])
    first, _, rest = out.partition("[1] ")
    assert "每季度" in first and "来源：《" in first
    assert rest.count("来源：《") >= 1, "pressing [1] answers the related topic"
    assert "党支部助手" in rest.split("来源：《")[-1]  # then /start's welcome
    assert "<b>" not in out and "<i>" not in out and "&lt;" not in out  # plain text for the terminal
    assert out.rstrip().endswith(texts.CONSOLE_BYE)
    assert "这一行" not in out
    assert "Traceback" not in result.stderr


def test_console_ends_cleanly_at_end_of_input(tmp_path: Path) -> None:
    result = _chat(tmp_path, ["/ask", "42"])  # "42" is no button: it is a question
    assert result.returncode == 0, result.stderr
    assert "请在 /ask 后面写上问题" in result.stdout
    assert "没有找到可靠的答案" in result.stdout or "来源：《" in result.stdout
    assert result.stdout.rstrip().endswith(texts.CONSOLE_BYE)
