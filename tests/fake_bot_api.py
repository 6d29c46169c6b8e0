"""A small fake Telegram Bot API server for end-to-end tests: real HTTP on 127.0.0.1, a random port.

It serves bot/transport.py's BotApiSimulator over HTTP/1.1 keep-alive (Nagle off), so the bot under test talks to
it exactly as to api.telegram.org: ``TELEGRAM_API_BASE_URL=server.base_url``. Tests queue updates with
``server.api.push_update(...)``, read ``server.api.calls``, and script faults with ``server.api.fail_next(...)``
(any status, description and ``retry_after``: 429, 403, 400, 502 …).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl

from bot.transport import BotApiError, BotApiSimulator, decode_form


class FakeBotApiServer:
    """Start with ``with FakeBotApiServer() as server:``; one bot token, one simulator."""

    def __init__(self, token: str = "123456:TEST", api: BotApiSimulator | None = None) -> None:
        self.token = token
        self.api = api or BotApiSimulator(bot_id=int(token.partition(":")[0]))
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
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
        return self.api.handle(method, decode_form(fields), files)


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
