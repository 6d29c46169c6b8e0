"""The knowledge-base service: store, list, remove and load uploaded documents; the Answerer searches them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Branch, DocumentPassage
from bot.services.knowledge_base import (
    add_document,
    build_answerer,
    list_documents,
    load_passages,
    remove_document,
)
from knowledge.ingest import ParsedDocument, ParsedPassage

VOLUNTEER = ParsedDocument(
    title="本单位党员志愿服务积分办法",
    passages=(
        ParsedPassage(("第一章 总则", "第一条 积分标准"), "党员每参加一次社区志愿服务，记志愿服务积分2分。"),
        ParsedPassage(("第一章 总则", "第二条 积分公示"), "志愿服务积分每季度在支部公示栏公示一次。"),
        ParsedPassage((), "本办法自印发之日起施行。"),
    ),
)
BRANCH_RULE = ParsedDocument(
    title="第三支部学习安排",
    passages=(ParsedPassage(("学习安排",), "第三支部每月第二个周四下午集中学习红色家书。"),),
)


async def _branches(sessions: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    async with sessions() as session:
        branches = [Branch(name=f"第{n}党支部") for n in range(1, count + 1)]
        session.add_all(branches)
        await session.commit()
        return [branch.id or 0 for branch in branches]


async def _passage_rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(DocumentPassage))).scalar_one()


async def test_add_stores_document_and_passages(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        document = await add_document(session, VOLUNTEER, "jifen.md", added_by=5_000_000_001)
    assert document.id is not None
    assert document.passage_count == 3
    assert document.created_at.tzinfo is not None

    async with sessions() as session:
        [listed] = await list_documents(session)
        passages = await load_passages(session)
    assert (listed.title, listed.filename, listed.added_by) == ("本单位党员志愿服务积分办法", "jifen.md", 5_000_000_001)
    assert listed.created_at == document.created_at
    assert [p.key for p in passages] == [f"kb{document.id}-1", f"kb{document.id}-2", f"kb{document.id}-3"]
    first = passages[0]
    assert first.title == "本单位党员志愿服务积分办法"
    assert first.heading_path == ("第一章 总则", "第一条 积分标准")
    assert first.text == "党员每参加一次社区志愿服务，记志愿服务积分2分。"
    assert first.scope is None
    assert passages[2].heading_path == ()


async def test_a_document_without_passages_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        with pytest.raises(ValueError):
            await add_document(session, ParsedDocument(title="空", passages=()), "empty.txt")
        assert await list_documents(session) == []


async def test_list_shows_shared_documents_and_the_branch_own(sessions: async_sessionmaker[AsyncSession]) -> None:
    third, fourth = await _branches(sessions, 2)
    async with sessions() as session:
        await add_document(session, VOLUNTEER, "jifen.md")
        await add_document(session, BRANCH_RULE, "xuexi.txt", scope=third)
    async with sessions() as session:
        shared = [d.title for d in await list_documents(session)]
        own = [d.title for d in await list_documents(session, scope=third)]
        other = [d.title for d in await list_documents(session, scope=fourth)]
        scopes = {p.title: p.scope for p in await load_passages(session)}
    assert shared == other == ["本单位党员志愿服务积分办法"]
    assert own == ["本单位党员志愿服务积分办法", "第三支部学习安排"]
    assert scopes == {"本单位党员志愿服务积分办法": None, "第三支部学习安排": third}


async def test_remove_deletes_the_passages_too(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        kept = await add_document(session, BRANCH_RULE, "xuexi.txt")
        removed = await add_document(session, VOLUNTEER, "jifen.md")
    assert await _passage_rows(sessions) == 4
    async with sessions() as session:
        assert await remove_document(session, removed.id or 0) is True
        assert await remove_document(session, removed.id or 0) is False
        assert [d.id for d in await list_documents(session)] == [kept.id]
    assert await _passage_rows(sessions) == 1


async def test_answerer_searches_curated_and_stored_knowledge(sessions: async_sessionmaker[AsyncSession]) -> None:
    [third] = await _branches(sessions, 1)
    async with sessions() as session:
        document = await add_document(session, VOLUNTEER, "jifen.md")
        await add_document(session, BRANCH_RULE, "xuexi.txt", scope=third)
    answerer = await build_answerer(sessions)

    stored = answerer.answer("志愿服务积分每季度公示吗")
    assert stored.found
    assert stored.source is not None and stored.source.title == "本单位党员志愿服务积分办法"
    assert stored.candidates[0].key == f"kb{document.id}-2"

    curated = answerer.answer("党员大会多久开一次")
    assert curated.found and not curated.candidates[0].key.startswith("kb")

    assert answerer.answer("红色家书集中学习安排", scope=third).found
    assert all(c.title != "第三支部学习安排" for c in answerer.answer("红色家书集中学习安排").candidates)
