"""An in-process Bot API: answers python-telegram-bot's calls without a network and records every one.

`BotApiSimulator` is the Telegram side: the bot's identity, the chats and messages it has seen, the files sent either
way (served by ``getFile`` and the file URL), queued updates for ``getUpdates``, a log of every call, and scripted
faults. It checks what a real server checks (HTML markup, text
length, callback data size), so a malformed reply fails here as it would in production. `InProcessBotApi` plugs
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
from html import unescape
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from telegram.request import BaseRequest, RequestData

JSON = dict[str, Any]

DEFAULT_BOT_ID = 123456
DEFAULT_BOT_USERNAME = "partybot_local_bot"
DEFAULT_BOT_NAME = "党支部助手"
MAX_TEXT_UTF16 = 4096
MAX_CALLBACK_DATA_BYTES = 64
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
_ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji", "code",
     "pre", "blockquote"}
)  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_COMMAND = re.compile(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")
_MENTION = re.compile(r"@[A-Za-z0-9_]{5,32}")
# Telegram's file URL is <base file url>/<file_path>, the base ending in /file/bot<token> (PTB's default too).
_FILE_URL_PATH = re.compile(r"/file/bot[^/]*/(?P<file_path>.+)$")


class BotApiError(Exception):
    """A call the Bot API refuses; becomes a ``{"ok": false}`` reply with this status and description."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file the simulator holds: a document a user sent or the bot uploaded."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_name: str | None = None
    mime_type: str | None = None

    def file_object(self) -> JSON:
        """The File object ``getFile`` returns."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }

    def document_object(self) -> JSON:
        """The Document object a message carries."""
        document: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
        }
        if self.file_name:
            document["file_name"] = self.file_name
        if self.mime_type:
            document["mime_type"] = self.mime_type
        return document


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


def utf16_length(text: str) -> int:
    """Length as Telegram counts it (entity offsets and limits are in UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def html_to_plain(text: str) -> str:
    """Parse Telegram-HTML strictly, as the server does, and return the plain text a user sees.

    Raises BotApiError(400) for an unsupported or unbalanced tag, or a bare ``<``, ``>`` or ``&``.
    """
    plain: list[str] = []
    open_tags: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            tag = _TAG.match(text, position)
            if tag is None or tag.group(2).lower() not in _ALLOWED_TAGS:
                raise _parse_error(f"unsupported start tag at byte offset {position}")
            closing, name = tag.group(1), tag.group(2).lower()
            if not closing:
                open_tags.append(name)
            elif not open_tags or open_tags.pop() != name:
                raise _parse_error(f'unmatched end tag "{name}" at byte offset {position}')
            position = tag.end()
        elif char == "&":
            entity = _ENTITY.match(text, position)
            if entity is None:
                raise _parse_error(f"unsupported HTML entity at byte offset {position}")
            plain.append(unescape(entity.group()))
            position = entity.end()
        elif char == ">":
            raise _parse_error(f'unexpected ">" at byte offset {position}')
        else:
            plain.append(char)
            position += 1
    if open_tags:
        raise _parse_error(f'can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(plain)


def _parse_error(detail: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: can't parse entities: {detail}")


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


def make_user(user_id: int = 1001, first_name: str = "张三", username: str | None = None) -> JSON:
    user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}
    if username:
        user["username"] = username
    return user


def private_chat(user: JSON) -> JSON:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def group_chat(chat_id: int = -1001234567890, title: str = "第一党支部") -> JSON:
    return {"id": chat_id, "type": "supergroup", "title": title}


def _entities(text: str) -> list[JSON]:
    """The entities Telegram would attach: a leading /command and @mentions (offsets in UTF-16)."""
    found: list[JSON] = []
    if command := _COMMAND.match(text):
        found.append({"type": "bot_command", "offset": 0, "length": utf16_length(command.group())})
    for mention in _MENTION.finditer(text):
        offset = utf16_length(text[: mention.start()])
        found.append({"type": "mention", "offset": offset, "length": utf16_length(mention.group())})
    return found


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
        if not isinstance(commands, list) or not all(_valid_command(c) for c in commands):
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
        message["text"] = self._visible_text(params)
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
            message["caption"] = self._visible_text(params, "caption")
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
        text = self._visible_text(params)
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
        if entities := _entities(text):
            fields["entities"] = entities
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
                if entities := _entities(caption):
                    fields["caption_entities"] = entities
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
            _check_markup(markup)
            if "inline_keyboard" in markup:
                message["reply_markup"] = markup
        self._messages[(message["chat"]["id"], message["message_id"])] = message
        return message

    @staticmethod
    def _visible_text(params: JSON, name: str = "text") -> str:
        raw = params.get(name)
        if not isinstance(raw, str):
            raise BotApiError(400, f"Bad Request: message {name} is empty")
        text = html_to_plain(raw) if str(params.get("parse_mode", "")).upper() == "HTML" else raw
        if not text.strip():
            raise BotApiError(400, f"Bad Request: message {name} is empty")
        if utf16_length(text) > MAX_TEXT_UTF16:
            raise BotApiError(400, "Bad Request: message is too long")
        return text


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


def _valid_command(command: object) -> bool:
    return (
        isinstance(command, dict)
        and re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))) is not None
        and 1 <= len(str(command.get("description", ""))) <= 256
    )


def _check_markup(markup: object) -> None:
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if rows is None:
        return
    for row in rows:
        for button in row:
            if not str(button.get("text", "")).strip():
                raise BotApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise BotApiError(400, "Bad Request: BUTTON_DATA_INVALID")


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
