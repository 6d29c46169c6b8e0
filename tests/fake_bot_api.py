"""A small fake Telegram Bot API server for end-to-end tests: real HTTP on 127.0.0.1, a random port.

It serves bot/transport.py's BotApiSimulator over HTTP/1.1 keep-alive (Nagle off), so the bot under test talks to
it exactly as to api.telegram.org: ``TELEGRAM_API_BASE_URL=server.base_url``. Tests queue updates with
``server.api.push_update(...)``, read ``server.api.calls``, and script faults with ``server.api.fail_next(...)``
(any status, description and ``retry_after``: 429, 403, 400, 502 …).

`ScriptedBotApi` adds what reminder-delivery tests need: chats that exist on first use (``open_chats``), faults
scripted per chat (``fail``), answers held back past the client's timeout (``delay``; the message is still
delivered, as Telegram may well have done), ``setWebhook``, and ``delivered``: how often each text arrived.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from bot.bot_api_checks import JSON, BotApiError
from bot.transport import ApiCall, BotApiSimulator, decode_form


class ScriptedBotApi(BotApiSimulator):
    """The simulator with per-chat faults, slow answers, open chats, ``setWebhook`` and a delivery count."""

    def __init__(self, *, open_chats: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.open_chats = open_chats
        self.delivered: Counter[str] = Counter()  # visible text of each successful sendMessage
        self.webhook: JSON | None = None  # the last setWebhook parameters
        self._chat_faults: dict[tuple[str, int | None], deque[BotApiError]] = {}
        self._delays: dict[tuple[str, int | None], deque[float]] = {}
        self.latency: dict[str, float] = {}  # seconds every call of a method takes (e.g. sendMessage: 0.02)

    def fail(self, method: str, error: BotApiError, *, chat_id: int | None = None, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id``, or to any chat) are answered with ``error``."""
        with self._changed:
            self._chat_faults.setdefault((method, chat_id), deque()).extend([error] * times)

    def delay(self, method: str, seconds: float, *, chat_id: int | None = None, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id`` or any) are performed ``seconds`` late."""
        with self._changed:
            self._delays.setdefault((method, chat_id), deque()).extend([seconds] * times)

    def take_delay(self, method: str, params: JSON) -> float:
        with self._changed:
            queue = self._delays.get((method, params.get("chat_id"))) or self._delays.get((method, None))
            return queue.popleft() if queue else self.latency.get(method, 0.0)

    def handle(
        self, method: str, params: JSON, files: dict[str, tuple[str | None, bytes]] | None = None
    ) -> tuple[int, JSON]:
        with self._changed:
            queue = self._chat_faults.get((method, params.get("chat_id"))) or self._chat_faults.get((method, None))
            if queue:
                error = queue.popleft()
                self.calls.append(ApiCall(method, params, files or {}, error.status, None))
                self._changed.notify_all()
                return error.status, error.payload()
            status, reply = super().handle(method, params, files)
            if method == "sendMessage" and status == 200:
                self.delivered[reply["result"]["text"]] += 1
            return status, reply

    def wait_until(self, condition: Callable[[ScriptedBotApi], bool], timeout: float) -> bool:
        """Block until ``condition(self)`` holds (checked after every call) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (met := condition(self)) and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(min(left, 0.5))
            return met

    def sent_to(self, chat_id: int) -> list[ApiCall]:
        """Successful sendMessage calls to ``chat_id``."""
        with self._changed:
            return [c for c in self.calls if c.ok and c.method == "sendMessage" and c.params["chat_id"] == chat_id]

    def _chat(self, params: JSON) -> JSON:
        chat_id = params.get("chat_id")
        if self.open_chats and isinstance(chat_id, int) and chat_id not in self._chats:
            self._chats[chat_id] = (
                {"id": chat_id, "type": "private", "first_name": f"党员{chat_id}"}
                if chat_id > 0
                else {"id": chat_id, "type": "supergroup", "title": f"支部群{-chat_id}"}
            )
        return super()._chat(params)

    def _api_setWebhook(self, params: JSON, files: Mapping[str, Any]) -> bool:
        if not str(params.get("url", "")).startswith(("https://", "http://")):
            raise BotApiError(400, "Bad Request: bad webhook: an HTTPS URL must be provided for webhook")
        self.webhook = params
        return True


class FakeBotApiServer:
    """Start with ``with FakeBotApiServer() as server:``; one bot token, one simulator."""

    def __init__(
        self, token: str = "123456:TEST", api: ScriptedBotApi | None = None, *, open_chats: bool = False
    ) -> None:
        self.token = token
        self.api = api or ScriptedBotApi(bot_id=int(token.partition(":")[0]), open_chats=open_chats)
        self._http = _QuietHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="fake-bot-api", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}/bot"

    def __enter__(self) -> FakeBotApiServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.api.close()  # wake long-polling requests
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    def answer(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, object]]:
        """Route one POST: ``/bot<token>/<method>`` with a form, multipart or empty body."""
        prefix, _, method = path.partition("?")[0].rpartition("/")
        if prefix != f"/bot{self.token}":
            return 404, BotApiError(404, "Not Found").payload()
        fields, files = _parse_body(content_type, body)
        params = decode_form(fields)
        if delay := self.api.take_delay(method, params):
            time.sleep(delay)  # outside the simulator's lock: other requests go on meanwhile
        return self.api.handle(method, params, files)


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str | None, bytes]]]:
    if not body:
        return {}, {}
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        fields: dict[str, str] = {}
        files: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is None:
                fields[str(name)] = payload.decode()
            else:
                files[str(name)] = (part.get_filename(), payload)
        return fields, files
    return dict(parse_qsl(body.decode(), keep_blank_values=True)), {}


class _QuietHTTPServer(ThreadingHTTPServer):
    """Clients that go away mid-request (a killed bot, a cancelled long poll) are no error worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(server: FakeBotApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as PTB's httpx client expects
        disable_nagle_algorithm = True  # small replies on a kept-alive socket: 44 ms -> under 1 ms

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, payload = server.answer(self.path, self.headers.get("Content-Type", ""), body)
            self._reply(status, payload)

        def do_GET(self) -> None:
            self._reply(404, BotApiError(404, "Not Found").payload())

        def _reply(self, status: int, payload: dict[str, object]) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except ConnectionError:  # the client gave up, e.g. a long poll cancelled at shutdown
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the simulator records every call."""

    return Handler
