"""`partybot run` as a real subprocess against the fake Bot API server: start, wait, stop or kill; waits bounded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fake_bot_api import FakeBotApiServer

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST"
START_TIMEOUT = 90.0  # imports, migrations, knowledge index: a few seconds, far more on a loaded machine
STOP_TIMEOUT = 30.0
READY_LINE = "reminder runner started"


class BotProcess:
    """One `python -m bot run` process; its stderr goes to a file (a pipe nobody reads could block it)."""

    def __init__(self, name: str, tmp_path: Path, server: FakeBotApiServer, database_url: str, **settings: str) -> None:
        self.name = name
        self.log_path = tmp_path / f"{name}.log"
        self.webhook = "PARTYBOT_WEBHOOK_URL" in settings
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": server.base_url,
            "DATABASE_URL": database_url,
            "PTB_TIMEDELTA": "1",
            "PYTHONIOENCODING": "utf-8",
            "NO_PROXY": "127.0.0.1,localhost",
            "PARTYBOT_QUIET_HOURS": "off",  # real time here: the outcome must not depend on the hour
            "PARTYBOT_DELIVERY_INTERVAL": "0.5",
            "PARTYBOT_DELIVERY_LEASE": "6",
            "PARTYBOT_LOG_LEVEL": "INFO",
            **settings,
        }
        self.cwd = tmp_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> BotProcess:
        with self.log_path.open("ab") as log:
            command = [sys.executable, "-m", "bot", "run", *(["--webhook"] if self.webhook else [])]
            self.process = subprocess.Popen(command, cwd=self.cwd, env=self.env, stdout=log, stderr=log)
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        wait_for(lambda: READY_LINE in self.log or not self.running, timeout, f"{self.name} did not start")
        assert self.running, f"{self.name} exited with {self.returncode}:\n{self.log[-3000:]}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait: the clean way out (in-flight sends finish, the rest is released)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to record anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def bot_processes(*processes: BotProcess) -> Iterator[None]:
    """Whatever happens in the block, no process outlives it."""
    try:
        yield
    finally:
        for process in processes:
            process.kill()


def wait_for(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{message} within {timeout:.0f} s"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
