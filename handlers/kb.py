"""/kb: a branch's own knowledge documents, which answer that branch's members only (书记 or 组织委员, private chat).

    /kb                  list this branch's documents and the shared ones; a document sent within
                         AWAIT_DOCUMENT is uploaded (the conversation state AWAITING_DOCUMENT)
    document + caption /kb [title]   upload it (works without the conversation, on any instance)
    /kb remove ID        remove one of this branch's documents

An upload is size-checked before download, parsed in a child process with time and memory limits (off the event
loop, with no transaction open: bot.services.untrusted_files), and stored with its passages and an AuditLog row,
unless the branch would pass its passage cap. Then the Answerer is rebuilt off the event loop, and "已添加" is sent
only once the new index is in place, so the very next question is answered from the document. Other people's
updates run meanwhile.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import CommandHandler, ContextTypes, ConversationHandler, MessageHandler, filters

from bot.models import SECRETARY_AND_ORGANIZATION
from bot.services.access import Caller
from bot.services.audit import record_change
from bot.services.knowledge_base import KnowledgeBaseFull, add_document, list_documents, remove_document
from bot.services.progress import branch_timezone
from bot.services.text_hygiene import parse_id
from bot.services.untrusted_files import parse_document
from bot.services.when import format_when
from handlers import kb_texts as texts
from handlers.common import caller_or_refuse, reply, rollback_and_reply, sessions
from handlers.formatting import escape
from handlers.qa import rebuild_answerer
from knowledge.ingest import MAX_FILE_BYTES, IngestError

AWAITING_DOCUMENT = 0
AWAIT_DOCUMENT = timedelta(minutes=10)
AUDIT_ADD = "kb.add"
AUDIT_REMOVE = "kb.remove"
_CAPTION_COMMAND = re.compile(r"^/kb(@\w+)?(\s|$)")


def kb_conversation() -> ConversationHandler:
    """/kb and documents captioned /kb; after /kb alone, the next document too."""
    upload_document = MessageHandler(filters.Document.ALL & filters.CaptionRegex(_CAPTION_COMMAND), upload)
    return ConversationHandler(
        entry_points=[CommandHandler("kb", kb_command), upload_document],
        states={AWAITING_DOCUMENT: [MessageHandler(filters.Document.ALL, upload)]},
        fallbacks=[],
        allow_reentry=True,
        conversation_timeout=AWAIT_DOCUMENT,
        name="kb_upload",
        persistent=True,  # kept across restarts (bot.persistence)
    )


async def kb_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/kb: list (and wait for a document); /kb remove ID: remove."""
    args = context.args or []
    if not args:
        return await _list(update, context)
    document_id = parse_id(args[1]) if len(args) == 2 and args[0].lower() == "remove" else None
    if document_id is not None:
        await _remove(update, context, document_id)
    else:
        await reply(update, texts.KB_USAGE)
    return ConversationHandler.END


async def upload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A document: check who and where, then size, download, parse, store, rebuild the Answerer."""
    message = cast(Message, update.effective_message)
    document = message.document
    # The access check's session closes before the download: no transaction stays open meanwhile.
    async with sessions(context)() as session:
        caller = await _kb_caller(update, session)
    if caller is None or document is None:
        return ConversationHandler.END
    if document.file_size is not None and document.file_size > MAX_FILE_BYTES:
        await reply(update, texts.KB_TOO_BIG.format(limit=MAX_FILE_BYTES // (1024 * 1024)))
        return ConversationHandler.END
    filename = document.file_name or ""
    try:
        data = bytes(await (await document.get_file()).download_as_bytearray())
    except TelegramError:
        await reply(update, texts.KB_DOWNLOAD_FAILED)
        return ConversationHandler.END
    title = _CAPTION_COMMAND.sub("", message.caption or "").strip() or None
    try:
        parsed = await parse_document(data, filename, title)  # in a child process, with time and memory limits
    except IngestError as problem:
        await reply(update, escape(str(problem)))
        return ConversationHandler.END
    try:
        async with sessions(context)() as session:
            # add_document commits: the audit row goes in with the document (its id is not known before).
            detail = {"title": parsed.title, "passages": len(parsed.passages)}
            record_change(session, AUDIT_ADD, caller=caller, target=filename[:100], detail=detail)
            stored = await add_document(
                session, parsed, filename, scope=caller.branch.id, added_by=caller.member.telegram_user_id
            )
    except KnowledgeBaseFull as full:
        await reply(update, texts.KB_FULL.format(limit=full.limit))
        return ConversationHandler.END
    await rebuild_answerer(context.application)
    await reply(update, texts.KB_ADDED.format(title=escape(stored.title), passages=stored.passage_count, id=stored.id))
    return ConversationHandler.END


async def _kb_caller(update: Update, session: AsyncSession) -> Caller | None:
    """The 书记 or 组织委员 asking in a private chat; anyone else, or anywhere else, is answered with a refusal."""
    return await caller_or_refuse(
        update, session, texts.KB_ACTION, SECRETARY_AND_ORGANIZATION, private_only=texts.KB_PRIVATE_ONLY
    )


async def _list(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    async with sessions(context)() as session:
        caller = await _kb_caller(update, session)
        if caller is None:
            return ConversationHandler.END
        documents = await list_documents(session, scope=caller.branch.id)
    now = datetime.now(branch_timezone(caller.branch))
    own = [d for d in documents if d.scope_branch_id is not None]
    lines = [texts.KB_LIST_HEADING.format(branch=escape(caller.branch.name))]
    lines += [
        texts.KB_LIST_LINE.format(
            id=d.id, title=escape(d.title), passages=d.passage_count, added=format_when(d.created_at, now)
        )
        for d in own
    ] or [texts.KB_LIST_EMPTY]
    lines += [texts.KB_LIST_SHARED.format(title=escape(d.title)) for d in documents if d.scope_branch_id is None]
    await reply(update, "\n".join([*lines, texts.KB_LIST_HINT]))
    return AWAITING_DOCUMENT


async def _remove(update: Update, context: ContextTypes.DEFAULT_TYPE, document_id: int) -> None:
    async with sessions(context)() as session:
        caller = await _kb_caller(update, session)
        if caller is None:
            return
        own = {d.id: d for d in await list_documents(session, scope=caller.branch.id) if d.scope_branch_id}
        document = own.get(document_id)
        if document is None:
            await rollback_and_reply(update, session, texts.KB_NOT_FOUND.format(id=document_id))
            return
        # remove_document commits, with the audit row.
        detail = {"title": document.title}
        record_change(session, AUDIT_REMOVE, caller=caller, target=f"document:{document_id}", detail=detail)
        await remove_document(session, document_id)
    await rebuild_answerer(context.application)
    await reply(update, texts.KB_REMOVED.format(title=escape(document.title)))
