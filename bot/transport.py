"""An in-process Bot API: answers python-telegram-bot's calls without a network and records every one.

`BotApiSimulator` is the Telegram side: the bot's identity, the chats and messages it has seen, the files sent either
way (served by ``getFile`` and the file URL), queued updates for ``getUpdates``, a log of every call, and scripted
faults. It checks what a real server checks (bot.bot_api_checks: HTML markup, text length, keyboards), so a
malformed reply fails here as it would in production. `InProcessBotApi` plugs
it into PTB as a ``BaseRequest``: the console (`partybot chat`) runs on it, tests read its log, and
tests/fake_bot_api.py serves the same simulator over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from telegram.request import BaseRequest, RequestData

from bot.bot_api_checks import (
    JSON,
    BotApiError,
    check_markup,
    valid_command,
    visible_text,
)
from bot.bot_api_objects import StoredFile, entities, private_chat

DEFAULT_BOT_ID = 123456
DEFAULT_BOT_USERNAME = "partybot_local_bot"
DEFAULT_BOT_NAME = "党支部助手"
MAX_CALLBACK_ANSWER_CHARS = 200
MAX_LONG_POLL_SECONDS = 50.0
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API's getFile limit

# Calls whose effect a chat member sees; `take_outgoing` collects these.
OUTGOING_METHODS = frozenset(
    {"sendMessage", "sendDocument", "editMessageText", "editMessageReplyMarkup", "answerCallbackQuery"}
)
# Parameters PTB sends as plain strings; every other value on the wire is JSON-encoded.
_STRING_PARAMS = frozenset(
    {
        "text", "caption", "parse_mode", "callback_query_id", "inline_message_id", "url", "description",
        "short_description", "name", "title", "secret_token", "language_code", "business_connection_id",
        "message_effect_id", "emoji", "file_id",
    }
)  # fmt: skip
# Telegram's file URL is <base file url>/<file_path>, the base ending in /file/bot<token> (PTB's default too).
_FILE_URL_PATH = re.compile(r"/file/bot[^/]*/(?P<file_path>.+)$")


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One recorded Bot API call: decoded parameters, uploaded files, and what was answered."""

    method: str
    params: JSON
    files: dict[str, tuple[str | None, bytes]] = field(default_factory=dict)
    status: int = 200
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.status == 200


def decode_form(fields: Mapping[str, str]) -> JSON:
    """Decode PTB's form fields: strings stay strings, every other value was JSON-encoded."""
    params: JSON = {}
    for name, raw in fields.items():
        if name in _STRING_PARAMS:
            params[name] = raw
            continue
        try:
            params[name] = json.loads(raw)
        except ValueError:
            params[name] = raw  # e.g. chat_id="@channel"
    return params


class BotApiSimulator:
    """The Telegram side of the conversation, thread-safe (the fake HTTP server calls it from worker threads)."""

    def __init__(
        self,
        *,
        bot_id: int = DEFAULT_BOT_ID,
        username: str = DEFAULT_BOT_USERNAME,
        first_name: str = DEFAULT_BOT_NAME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[ApiCall] = []
        self._clock = clock
        self._changed = threading.Condition(threading.RLock())
        self._chats: dict[int, JSON] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._files: dict[str, StoredFile] = {}  # by file_id
        self._last_message_id: dict[int, int] = {}
        self._last_update_id = 0
        self._updates: deque[JSON] = deque()
        self._faults: dict[str, deque[BotApiError]] = {}
        self._open_queries: set[str] = set()  # callback query ids not answered yet
        # getChatMember answers: chat id -> {user id: status}; anyone not listed is a plain "member".
        self.chat_members: dict[int, dict[int, str]] = {}
        self._taken = 0
        self._closed = False

    # -- the Bot API -------------------------------------------------------------------------------------------

    def handle(
        self, method: str, params: JSON, files: dict[str, tuple[str | None, bytes]] | None = None
    ) -> tuple[int, JSON]:
        """Answer one call (status, reply body) and record it. ``getUpdates`` may wait up to its ``timeout``."""
        files = files or {}
        handler = getattr(self, f"_api_{method}", None)
        with self._changed:  # an RLock: getUpdates releases it while it waits
            try:
                if queue := self._faults.get(method):
                    raise queue.popleft()
                if handler is None:
                    raise BotApiError(404, "Not Found")
                call = ApiCall(method, params, files, 200, handler(params, files))
            except BotApiError as error:
                call = ApiCall(method, params, files, error.status, None)
                reply = error.payload()
            else:
                reply = {"ok": True, "result": call.result}
            self.calls.append(call)
            self._changed.notify_all()
        return call.status, reply

    def _api_getMe(self, params: JSON, files: Mapping[str, Any]) -> JSON:
        return self.bot_user

    def _api_deleteWebhook(self, params: JSON, files: Mapping[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_setMyCommands(self, params: JSON, files: Mapping[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or not all(valid_command(c) for c in commands):
            raise BotApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        return True

    def _api_getUpdates(self, params: JSON, files: Mapping[str, Any]) -> list[JSON]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), MAX_LONG_POLL_SECONDS)
        limit = int(params.get("limit") or 100)
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()  # acknowledged by the offset
        while not self._updates and not self._closed and (left := deadline - time.monotonic()) > 0:
            self._changed.wait(left)
        return list(self._updates)[:limit]

    def _api_sendMessage(self, params: JSON, files: Mapping[str, Any]) -> JSON:
        chat = self._chat(params)
        message = self._new_message(chat, self.bot_user)
        message["text"] = visible_text(params)
        return self._store(message, params)

    def _api_sendDocument(self, params: JSON, files: Mapping[str, tuple[str | None, bytes]]) -> JSON:
        chat = self._chat(params)
        if "document" in files:
            file_name, content = files["document"]
            document = self._keep_file(content, file_name)
        elif isinstance(resent := params.get("document"), str) and resent in self._files:
            document = self._files[resent].document_object()
        elif isinstance(resent, str):
            raise BotApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        else:
            raise BotApiError(400, "Bad Request: there is no document in the request")
        message = self._new_message(chat, self.bot_user)
        message["document"] = document
        if params.get("caption"):
            message["caption"] = visible_text(params, "caption")
        return self._store(message, params)

    def _api_getChatMember(self, params: JSON, files: Mapping[str, Any]) -> JSON:
        chat = self._chat(params)
        user_id = int(params.get("user_id") or 0)
        status = self.chat_members.get(chat["id"], {}).get(user_id, "member")
        user = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
        return {"status": status, "user": user, **_CHAT_MEMBER_FIELDS[status]}

    def _api_getFile(self, params: JSON, files: Mapping[str, Any]) -> JSON:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            raise BotApiError(400, "Bad Request: invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_BYTES:
            raise BotApiError(400, "Bad Request: file is too big")
        return stored.file_object()

    def _api_editMessageText(self, params: JSON, files: Mapping[str, Any]) -> JSON:
        message = self._existing_message(params)
        text = visible_text(params)
        if text == message.get("text") and params.get("reply_markup") == message.get("reply_markup"):
            raise BotApiError(400, "Bad Request: message is not modified")
        message = {**message, "text": text, "edit_date": int(self._clock())}
        return self._store(message, params)

    def _api_editMessageReplyMarkup(self, params: JSON, files: Mapping[str, Any]) -> JSON:
        message = {**self._existing_message(params), "edit_date": int(self._clock())}
        message.pop("reply_markup", None)
        return self._store(message, params)

    def _api_answerCallbackQuery(self, params: JSON, files: Mapping[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id"))
        if query_id not in self._open_queries:  # unknown, or answered already
            raise BotApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        if len(params.get("text") or "") > MAX_CALLBACK_ANSWER_CHARS:
            raise BotApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    # -- what users send (updates) -----------------------------------------------------------------------------

    def user_message(
        self, text: str, *, user: JSON, chat: JSON | None = None, reply_to_message_id: int | None = None
    ) -> JSON:
        """An Update carrying a text message from ``user`` (in their private chat unless ``chat`` is given)."""
        fields: JSON = {"text": text}
        if found := entities(text):
            fields["entities"] = found
        return self._user_update(fields, user=user, chat=chat, reply_to_message_id=reply_to_message_id)

    def chat_event(self, fields: JSON, *, user: JSON, chat: JSON) -> JSON:
        """An Update carrying a service message in ``chat`` (``fields`` such as ``migrate_to_chat_id``)."""
        return self._user_update(fields, user=user, chat=chat)

    def chat_member_update(self, chat: JSON, user: JSON, old_status: str, new_status: str, *, by: JSON) -> JSON:
        """An Update telling that ``user``'s status in ``chat`` changed (e.g. "member" -> "left"), done ``by`` someone
        (the user themselves when they leave; an admin when they remove them)."""

        def member(status: str) -> JSON:
            return {"status": status, "user": user, **_CHAT_MEMBER_FIELDS[status]}

        with self._changed:
            self._chats[chat["id"]] = chat
            changed = {
                "chat": chat,
                "from": by,
                "date": int(self._clock()),
                "old_chat_member": member(old_status),
                "new_chat_member": member(new_status),
            }
            return {"update_id": self._next_update_id(), "chat_member": changed}

    def user_document(
        self,
        content: bytes,
        file_name: str,
        *,
        user: JSON,
        chat: JSON | None = None,
        caption: str | None = None,
        mime_type: str | None = None,
    ) -> JSON:
        """An Update carrying a document from ``user``; its bytes are kept for ``getFile`` and the file URL."""
        with self._changed:
            fields: JSON = {"document": self._keep_file(content, file_name, mime_type)}
            if caption is not None:
                fields["caption"] = caption
                if found := entities(caption):
                    fields["caption_entities"] = found
            return self._user_update(fields, user=user, chat=chat)

    def button_press(self, chat_id: int, message_id: int, data: str, *, user: JSON) -> JSON:
        """An Update for ``user`` pressing a button whose callback data is ``data`` under a stored message."""
        with self._changed:
            message = self._messages[(chat_id, message_id)]
            update_id = self._next_update_id()
            query = {
                "id": f"cbq{update_id}",
                "from": user,
                "message": message,
                "chat_instance": f"ci{chat_id}",
                "data": data,
            }
            self._open_queries.add(query["id"])
            return {"update_id": update_id, "callback_query": query}

    def download(self, file_path: str) -> bytes:
        """The bytes behind a ``file_path`` from ``getFile`` (what the file URL serves); unknown: 404."""
        with self._changed:
            for stored in self._files.values():
                if stored.file_path == file_path:
                    return stored.content
        raise BotApiError(404, "Not Found")

    def push_update(self, update: JSON) -> None:
        """Queue an update for ``getUpdates`` (long-polling clients wake up at once)."""
        with self._changed:
            self._updates.append(update)
            self._changed.notify_all()

    # -- faults, observation, shutdown -------------------------------------------------------------------------

    def fail_next(self, method: str, error: BotApiError) -> None:
        """Script a fault: the next call of ``method`` is answered with ``error`` instead of being performed."""
        with self._changed:
            self._faults.setdefault(method, deque()).append(error)

    def take_outgoing(self) -> list[ApiCall]:
        """Successful user-visible calls (messages, edits, callback answers) since the last take, in order."""
        with self._changed:
            new = self.calls[self._taken :]
            self._taken = len(self.calls)
        return [call for call in new if call.ok and call.method in OUTGOING_METHODS]

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 10.0) -> list[ApiCall]:
        """Block until ``count`` successful calls of ``method`` are recorded (or ``timeout``); return them all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(matching := self._successful(method)) < count and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            return matching

    def close(self) -> None:
        """Release long-polling clients (server shutdown)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    # -- internals ---------------------------------------------------------------------------------------------

    def _successful(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.ok and call.method == method]

    def _user_update(
        self, fields: JSON, *, user: JSON, chat: JSON | None, reply_to_message_id: int | None = None
    ) -> JSON:
        chat = chat or private_chat(user)
        with self._changed:
            self._chats[chat["id"]] = chat
            message = self._new_message(chat, user) | fields
            if reply_to_message_id is not None:
                message["reply_to_message"] = self._messages[(chat["id"], reply_to_message_id)]
            self._messages[(chat["id"], message["message_id"])] = message
            return {"update_id": self._next_update_id(), "message": message}

    def _keep_file(self, content: bytes, file_name: str | None, mime_type: str | None = None) -> JSON:
        """Store a file's bytes; return the Document object that refers to them."""
        number = len(self._files) + 1
        suffix = PurePosixPath(file_name or "").suffix
        stored = StoredFile(
            f"file{number}", f"u{number}", f"documents/file_{number}{suffix}", content, file_name, mime_type
        )
        self._files[stored.file_id] = stored
        return stored.document_object()

    def _next_update_id(self) -> int:
        self._last_update_id += 1
        return self._last_update_id

    def _chat(self, params: JSON) -> JSON:
        chat = self._chats.get(params.get("chat_id"))
        if chat is None:
            raise BotApiError(400, "Bad Request: chat not found")
        return chat

    def _new_message(self, chat: JSON, sender: JSON) -> JSON:
        message_id = self._last_message_id.get(chat["id"], 0) + 1
        self._last_message_id[chat["id"]] = message_id
        return {"message_id": message_id, "from": sender, "chat": chat, "date": int(self._clock())}

    def _existing_message(self, params: JSON) -> JSON:
        message = self._messages.get((params.get("chat_id"), params.get("message_id")))
        if message is None or message["from"]["id"] != self.bot_user["id"]:
            raise BotApiError(400, "Bad Request: message to edit not found")
        return message

    def _store(self, message: JSON, params: JSON) -> JSON:
        if (markup := params.get("reply_markup")) is not None:
            check_markup(markup)
            if "inline_keyboard" in markup:
                message["reply_markup"] = markup
        self._messages[(message["chat"]["id"], message["message_id"])] = message
        return message


_ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members", "can_promote_members",
    "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories",
)  # fmt: skip
# The fields a ChatMember of each scriptable status carries besides status and user (an administrator may do all).
_CHAT_MEMBER_FIELDS: dict[str, JSON] = {
    "creator": {"is_anonymous": False},
    "administrator": {"is_anonymous": False, "can_be_edited": False} | dict.fromkeys(_ADMIN_RIGHTS, True),
    "member": {},
    "left": {},
    "kicked": {"until_date": 0},
}


class InProcessBotApi(BaseRequest):
    """A PTB request backend that hands every call to a `BotApiSimulator` instead of the network."""

    def __init__(self, api: BotApiSimulator | None = None) -> None:
        self.api = api or BotApiSimulator()

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if method != "POST":
            return self._download(url)
        api_method = url.rsplit("/", 1)[-1]
        params = decode_form(request_data.json_parameters) if request_data else {}
        files = _uploaded_files(request_data)
        if api_method == "getUpdates":  # long polling waits: keep the event loop free
            status, body = await asyncio.to_thread(self.api.handle, api_method, params, files)
        else:
            status, body = self.api.handle(api_method, params, files)
        return status, json.dumps(body, ensure_ascii=False).encode()

    def _download(self, url: str) -> tuple[int, bytes]:
        """A GET of a file URL (``File.download_*``): the stored bytes, or Telegram's 404 reply."""
        match = _FILE_URL_PATH.search(urlsplit(url).path)
        try:
            if match is None:
                raise BotApiError(404, "Not Found")
            return 200, self.api.download(unquote(match["file_path"]))
        except BotApiError as error:
            return error.status, json.dumps(error.payload()).encode()


def _uploaded_files(request_data: RequestData | None) -> dict[str, tuple[str | None, bytes]]:
    if request_data is None or not request_data.contains_files:
        return {}
    files: dict[str, tuple[str | None, bytes]] = {}
    for name, (file_name, content, *_mime) in request_data.multipart_data.items():
        files[name] = (file_name, content if isinstance(content, bytes) else content.read())
    return files
