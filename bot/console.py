"""`partybot chat`: talk to the real bot in a terminal, with no token and no network.

The same Application as in production (build_application) runs over the in-process Bot API. Each input line
becomes a private-chat message (commands included); the bot's replies are printed as plain text with their inline
buttons numbered ``[1] …``; typing a listed number presses that button. ``/quit`` or end of input exits.
Works with piped input: ``printf '党员大会多久开一次\\n1\\n' | partybot chat``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TextIO

from telegram import Update

from bot.app import build_application, serving
from bot.bot_api_objects import make_user
from bot.config import Settings
from bot.transport import ApiCall, BotApiSimulator, InProcessBotApi
from handlers import texts

PROMPT = "> "
QUIT_COMMANDS = frozenset({"/quit", "/exit"})
CONSOLE_USER = make_user(1, "本地用户")


@dataclass(frozen=True, slots=True)
class _Button:
    chat_id: int
    message_id: int
    data: str


def run_console(settings: Settings, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    """Chat until /quit or end of input (defaults: the process's stdin and stdout)."""
    asyncio.run(_chat(settings, stdin or sys.stdin, stdout or sys.stdout))


async def _chat(settings: Settings, stdin: TextIO, stdout: TextIO) -> None:
    api = BotApiSimulator()
    application = build_application(settings, request=InProcessBotApi(api))
    interactive = stdin.isatty()
    print(texts.CONSOLE_BANNER, file=stdout, flush=True)
    async with serving(application):
        api.take_outgoing()  # start-up calls (command menu) are not part of the conversation
        buttons: list[_Button] = []
        async for line in _lines(stdin, stdout, prompt=PROMPT if interactive else ""):
            text = line.strip()
            if text in QUIT_COMMANDS:
                break
            if not text:
                continue
            if text.isdigit() and 1 <= int(text) <= len(buttons):
                pressed = buttons[int(text) - 1]
                update = api.button_press(pressed.chat_id, pressed.message_id, pressed.data, user=CONSOLE_USER)
            else:
                update = api.user_message(text, user=CONSOLE_USER)
            await application.process_update(Update.de_json(update, application.bot))
            buttons = _show(api.take_outgoing(), stdout) or buttons
    print(texts.CONSOLE_BYE, file=stdout, flush=True)


async def _lines(stdin: TextIO, stdout: TextIO, *, prompt: str) -> AsyncIterator[str]:
    """Input lines until end of input, read by a daemon thread so the event loop (and Ctrl-C) stay responsive."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()
    wanted = threading.Semaphore(0)  # one line is read per request, so the prompt follows the bot's reply

    def read() -> None:
        while True:
            wanted.acquire()
            line = stdin.readline()
            loop.call_soon_threadsafe(queue.put_nowait, line)
            if not line:
                return

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    while True:
        print(prompt, end="", file=stdout, flush=True)
        wanted.release()
        line = await queue.get()
        if not line:
            if prompt:
                print(file=stdout)  # end the prompt's line after Ctrl-D
            return
        yield line


def _show(calls: list[ApiCall], stdout: TextIO) -> list[_Button]:
    """Print what the bot did; return the buttons shown (numbered from 1), if any."""
    buttons: list[_Button] = []
    for call in calls:
        if call.method == "answerCallbackQuery":
            if call.params.get("text"):
                print(texts.CONSOLE_TOAST.format(text=call.params["text"]), file=stdout)
            continue
        message = call.result
        if "text" in message:
            print(message["text"], file=stdout)
        for row in message.get("reply_markup", {}).get("inline_keyboard", []):
            for button in (b for b in row if "callback_data" in b):
                buttons.append(_Button(message["chat"]["id"], message["message_id"], button["callback_data"]))
                print(f"[{len(buttons)}] {button['text']}", file=stdout)
        print(file=stdout)
    stdout.flush()
    return buttons
