"""The uploaded knowledge base: store parsed documents, list and remove them, and build the Answerer.

Stored passages get the key ``kb<document id>-<position>`` and the document's branch as their scope; the Answerer
searches them together with the curated knowledge in knowledge/docs. Titles, headings and passages are stored
scrubbed (bot.services.text_hygiene), and each branch (and the shared scope) holds at most MAX_BRANCH_PASSAGES
passages: every instance indexes every stored passage at start.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Document, DocumentPassage
from bot.services.text_hygiene import clean_line, clean_multiline
from knowledge.answer import Answerer
from knowledge.curated import load_curated
from knowledge.passage import Passage

if TYPE_CHECKING:
    from knowledge.ingest import ParsedDocument

MAX_BRANCH_PASSAGES = 10_000


class KnowledgeBaseFull(Exception):
    """Storing the document would take its scope past MAX_BRANCH_PASSAGES; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} passages")
        self.limit = limit


async def add_document(
    session: AsyncSession,
    parsed: ParsedDocument,
    filename: str,
    *,
    scope: int | None = None,
    added_by: int | None = None,
) -> Document:
    """Store a document and all its passages in one transaction; positions count from 1.

    KnowledgeBaseFull (nothing stored) when its scope would hold more than MAX_BRANCH_PASSAGES passages.
    """
    from knowledge.ingest import MAX_TITLE_CHARS

    if not parsed.passages:
        raise ValueError("a document needs at least one passage")
    held = await session.scalar(
        select(func.coalesce(func.sum(Document.passage_count), 0)).where(
            Document.scope_branch_id.is_(None) if scope is None else Document.scope_branch_id == scope  # type: ignore[union-attr]
        )
    )
    if int(held or 0) + len(parsed.passages) > MAX_BRANCH_PASSAGES:
        raise KnowledgeBaseFull(MAX_BRANCH_PASSAGES)
    document = Document(
        title=clean_line(parsed.title)[:MAX_TITLE_CHARS] or clean_line(filename)[:MAX_TITLE_CHARS],
        filename=filename,
        scope_branch_id=scope,
        added_by=added_by,
        passage_count=len(parsed.passages),
    )
    session.add(document)
    await session.flush()
    assert document.id is not None
    session.add_all(
        DocumentPassage(
            document_id=document.id,
            position=position,
            heading_path=json.dumps([clean_line(heading) for heading in passage.heading_path], ensure_ascii=False),
            text=clean_multiline(passage.text),
        )
        for position, passage in enumerate(parsed.passages, start=1)
    )
    await session.commit()
    return document


async def list_documents(session: AsyncSession, scope: int | None = None) -> list[Document]:
    """Documents visible to a branch (shared ones and its own; ``None``: shared only), oldest first."""
    visible = Document.scope_branch_id.is_(None)  # type: ignore[union-attr]
    if scope is not None:
        visible = or_(visible, Document.scope_branch_id == scope)
    result = await session.execute(select(Document).where(visible).order_by(Document.id))
    return list(result.scalars())


async def remove_document(session: AsyncSession, document_id: int) -> bool:
    """Delete a document and (by ON DELETE CASCADE) its passages; False if there was no such document."""
    result = await session.execute(delete(Document).where(Document.id == document_id))
    await session.commit()
    return bool(result.rowcount)


async def load_passages(session: AsyncSession) -> list[Passage]:
    """Every stored passage of every document, in document then position order."""
    result = await session.execute(
        select(DocumentPassage, Document)
        .join(Document, DocumentPassage.document_id == Document.id)
        .order_by(DocumentPassage.document_id, DocumentPassage.position)
    )
    return [
        Passage(
            key=f"kb{document.id}-{row.position}",
            title=document.title,
            heading_path=tuple(json.loads(row.heading_path)),
            text=row.text,
            scope=document.scope_branch_id,
            document=document.id,
        )
        for row, document in result.all()
    ]


async def documents_version(session: AsyncSession) -> tuple[int, int]:
    """(number of stored documents, highest id): changes whenever any instance adds or removes a document."""
    count, highest = (
        await session.execute(select(func.count(Document.id), func.coalesce(func.max(Document.id), 0)))
    ).one()
    return int(count), int(highest)


async def build_answerer(sessions: async_sessionmaker[AsyncSession]) -> Answerer:
    """An Answerer over the curated knowledge and every stored document (indexing runs off the event loop)."""
    async with sessions() as session:
        stored = await load_passages(session)
    return await asyncio.to_thread(Answerer, [*load_curated(), *stored])
