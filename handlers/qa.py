"""Questions and answers: /ask, free text in private chats, @mentions and replies in groups, related-topic buttons.

Each handler reads the question, asks the Answerer (built once at start-up and kept in ``bot_data``), and formats
the reply: the answer, its source, and up to three related topics as buttons; below confidence, an honest
"not found" with the nearest topics instead — never an invented rule.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, Chat, InlineKeyboardMarkup, Message, MessageEntity, Update, User
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import Application, ContextTypes, filters

from bot.services.access import question_scope
from bot.services.knowledge_base import build_answerer, documents_version
from handlers import keyboards, texts
from handlers.common import SESSIONS_KEY, sessions
from handlers.formatting import escape, split_message
from handlers.throttle import detach_send
from knowledge.answer import Answerer
from knowledge.answer_types import Answer, Candidate

logger = logging.getLogger(__name__)

ANSWERER_KEY = "answerer"  # bot_data entry holding the Answerer (set by install_answerer at start-up)
ANSWERER_VERSION_KEY = "answerer_documents_version"  # the stored documents the Answerer was built from
REBUILD_LOCK_KEY = "answerer_rebuild_lock"
REBUILD_TASK_KEY = "answerer_rebuild_task"  # the latest rebuild, for whoever must wait for it (tests)
REBUILD_WAIT_SECONDS = 10.0  # a question waits at most this long for the index of a document just added
MAX_QUESTION_CHARS = 1000
MAX_RELATED = 3


class AddressedToBot(filters.MessageFilter):
    """A group message meant for the bot: it @mentions the bot or replies to one of the bot's messages."""

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return True
        mentions = message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
        return any(
            (entity.user is not None and entity.user.id == bot.id) or text.lower() == f"@{bot.username}".lower()
            for entity, text in mentions.items()
        )


ADDRESSED_TO_BOT = AddressedToBot(name="addressed_to_bot")


@dataclass(frozen=True, slots=True)
class Reply:
    """A formatted reply: one or more HTML messages; the keyboard goes under the last one."""

    messages: list[str]
    keyboard: InlineKeyboardMarkup | None = None


# -- handlers -----------------------------------------------------------------------------------------------------


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask 问题 — anywhere."""
    message = cast(Message, update.effective_message)
    parts = (message.text or "").split(maxsplit=1)
    if len(parts) < 2:
        await _send(message, Reply([texts.ASK_USAGE]))
        return
    await _answer_question(message, context, parts[1])


async def private_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any text in a private chat is a question."""
    message = cast(Message, update.effective_message)
    await _answer_question(message, context, message.text or "")


async def group_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group message addressed to the bot (see AddressedToBot): the question is the text without the mention."""
    message = cast(Message, update.effective_message)
    username = context.bot.username
    question = re.sub(rf"@{re.escape(username)}\b", " ", message.text or "", flags=re.IGNORECASE)
    if not question.strip():
        reply = Reply([texts.MENTION_USAGE.format(username=escape(username))])
    else:
        reply = await _reply_to(message, context, question)
    # A group takes 20 messages a minute: with a rate limiter the answer may wait, and not in this update's slot.
    await detach_send(context, update, _send(message, reply))


async def related_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A "related question" button: answer that passage."""
    query = update.callback_query
    assert query is not None  # routed here by CallbackQueryHandler
    button = keyboards.decode(query.data)
    # explain() refuses unknown keys and branch-scoped passages outside the branch of the chat (see _scope).
    scope = await _scope(context, query.from_user, query.message.chat if query.message else None)
    answer = _answerer(context).explain(button.argument, scope) if button else None
    if answer is None or not isinstance(query.message, Message):
        await _acknowledge(query, texts.STALE_BUTTON)
        return
    await _acknowledge(query)
    await _send(query.message, answer_reply(answer), quote=False)


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other callback data (stale, from an older version, or forged): say so, never guess."""
    query = update.callback_query
    assert query is not None
    await _acknowledge(query, texts.STALE_BUTTON)


# -- formatting ---------------------------------------------------------------------------------------------------


def answer_reply(answer: Answer) -> Reply:
    """The reply for an Answer: found -> text, source, related buttons; not found -> the nearest topics."""
    if answer.small_talk:
        return Reply([escape(answer.answer)])
    if answer.found:
        return _found_reply(answer)
    nearest = _offerable(answer.candidates, answered=frozenset())
    if answer.writing_request:  # the bot writes no speeches or applications; the rules they touch may help
        follow_up = texts.WRITING_NEAREST if nearest else ""
        return Reply([f"{escape(answer.answer)}\n{follow_up}".strip()], keyboards.related_keyboard(nearest))
    follow_up = texts.NOT_FOUND_NEAREST if nearest else texts.NOT_FOUND_NOTHING_NEAR
    # a question about another organisation is told so, in the knowledge's words
    said = escape(answer.answer) if answer.other_body else texts.NOT_FOUND
    return Reply([f"{said}\n{follow_up}"], keyboards.related_keyboard(nearest))


def _found_reply(answer: Answer) -> Reply:
    answered = frozenset(answer.part_keys) | {c.key for c in answer.candidates[:1]}
    related = _offerable(answer.candidates, answered=answered)
    parts = [escape(answer.answer.strip())]
    if answer.source is not None and not answer.part_keys:  # a composed answer names each part's source itself
        section = f" {escape(answer.source.section)}" if answer.source.section else ""
        title = answer.source.title
        if not title.startswith("《"):  # a document title; calculator sources already name theirs with 《》
            title = f"《{title}》"
        parts.append(texts.SOURCE_LINE.format(title=escape(title), section=section))
    if related:
        parts.append(texts.RELATED_HINT)
    return Reply(split_message("\n\n".join(parts)), keyboards.related_keyboard(related))


def _offerable(candidates: Iterable[Candidate], *, answered: frozenset[str]) -> list[Candidate]:
    """Up to MAX_RELATED distinct topics with some relevance, other than the passages the answer quotes."""
    chosen: dict[str, Candidate] = {}
    for candidate in candidates:
        if candidate.key not in answered and candidate.score > 0 and candidate.key not in chosen:
            chosen[candidate.key] = candidate
    return list(chosen.values())[:MAX_RELATED]


# -- plumbing -----------------------------------------------------------------------------------------------------


async def install_answerer(application: Application, answerer: Answerer | None = None) -> None:
    """At start-up: the given Answerer (tests), or one over the curated knowledge and every stored document."""
    async with application.bot_data[SESSIONS_KEY]() as session:
        version = await documents_version(session)
    application.bot_data[ANSWERER_KEY] = answerer or await build_answerer(application.bot_data[SESSIONS_KEY])
    application.bot_data[ANSWERER_VERSION_KEY] = version


def rebuild_answerer(application: Application) -> asyncio.Task[None]:
    """Index the knowledge again (off the event loop); the new Answerer replaces the old one when ready.

    Rebuilds run one at a time and read the database when they start, so the last one has every change committed
    before it was started and an older index never replaces a newer one.
    """
    lock = application.bot_data.setdefault(REBUILD_LOCK_KEY, asyncio.Lock())

    async def rebuild() -> None:
        async with lock:
            await install_answerer(application)

    task = application.create_task(rebuild(), name="answerer-rebuild")
    application.bot_data[REBUILD_TASK_KEY] = task
    return task


async def wait_for_rebuild(application: Application) -> bool:
    """Wait (at most REBUILD_WAIT_SECONDS) for the rebuild under way, if any; False if it is still running then."""
    task = application.bot_data.get(REBUILD_TASK_KEY)
    if task is None or task.done():
        return True
    try:
        async with asyncio.timeout(REBUILD_WAIT_SECONDS):
            await asyncio.shield(task)
    except TimeoutError:
        logger.warning(
            "knowledge index still rebuilding after %.1f s; answering from the previous one", REBUILD_WAIT_SECONDS
        )
        return False
    return True


async def _keep_current(context: ContextTypes.DEFAULT_TYPE, version: tuple[int, int]) -> None:
    """Before answering: when the stored documents changed (here or on another instance), rebuild and wait.

    A question asked right after an upload is answered from the new document, not "not found"; the wait is
    bounded, after which the previous index answers. Concurrent questions share one rebuild.
    """
    data = context.bot_data
    if version != data.get(ANSWERER_VERSION_KEY) and not _rebuilding(data):
        rebuild_answerer(context.application)
    await wait_for_rebuild(context.application)


def _rebuilding(data: dict[str, Any]) -> bool:
    task = data.get(REBUILD_TASK_KEY)
    return task is not None and not task.done()


def _answerer(context: ContextTypes.DEFAULT_TYPE) -> Answerer:
    return cast(Answerer, context.bot_data[ANSWERER_KEY])


async def _scope(context: ContextTypes.DEFAULT_TYPE, user: User | None, chat: Chat | None) -> int | None:
    """Whose uploaded documents may answer here: in a group the group's branch, in a private chat the asker's."""
    if chat is None:
        return None
    async with sessions(context)() as session:
        return await _scope_in(session, user, chat)


async def _scope_and_documents(
    context: ContextTypes.DEFAULT_TYPE, user: User | None, chat: Chat
) -> tuple[int | None, tuple[int, int]]:
    """The scope (see _scope) and the stored documents' version, in one short transaction."""
    async with sessions(context)() as session:
        return await _scope_in(session, user, chat), await documents_version(session)


async def _scope_in(session: AsyncSession, user: User | None, chat: Chat) -> int | None:
    private = chat.type == ChatType.PRIVATE
    return await question_scope(session, user.id if user else None, chat_id=chat.id, private=private)


async def _acknowledge(query: CallbackQuery, note: str | None = None) -> None:
    """Answer a button press. One pressed while the bot was down may be too old to answer: still reply to it."""
    try:
        await query.answer(note)
    except BadRequest as error:
        logger.info("callback query %s not answered: %s", query.id, error)


async def _answer_question(message: Message, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    await _send(message, await _reply_to(message, context, question))


async def _reply_to(message: Message, context: ContextTypes.DEFAULT_TYPE, question: str) -> Reply:
    question = question.strip()
    if not question:
        return Reply([texts.EMPTY_QUESTION])
    if len(question) > MAX_QUESTION_CHARS:
        return Reply([texts.QUESTION_TOO_LONG.format(limit=MAX_QUESTION_CHARS)])
    scope, version = await _scope_and_documents(context, message.from_user, message.chat)
    await _keep_current(context, version)
    return answer_reply(_answerer(context).answer(question, scope))


async def _send(message: Message, reply: Reply, *, quote: bool | None = None) -> None:
    """Send ``reply`` to the chat of ``message``; in groups the first part quotes the question."""
    if quote is None:
        quote = message.chat.type != ChatType.PRIVATE
    last = len(reply.messages) - 1
    for index, text in enumerate(reply.messages):
        await message.reply_text(
            text,
            do_quote=quote and index == 0,
            allow_sending_without_reply=True,
            reply_markup=reply.keyboard if index == last else None,
        )
