"""/kb: a branch's own documents are uploaded, answer that branch's members only, are listed and removed."""

from __future__ import annotations

import io

import docx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import AuditLog, Document
from bot.services.knowledge_base import add_document
from handlers import qa
from knowledge.ingest import MAX_FILE_BYTES, parse_bytes
from tests.progress.conftest import CAROL, ORGANIZER, OTHER_SECRETARY, World, snapshot
from tests.telegram.helpers import ALICE, BOB, ChatHarness, messages, plain

RULES_TITLE = "第一党支部读书分享会制度"
RULES_QUESTION = "读书分享会在哪里举行"
DUTY_TEXT = "值班安排\n\n一、机关党员轮流值守党员活动室\n每周五下午由两名党员值守党员活动室，负责整理学习资料。\n"


def rules_docx() -> bytes:
    document = docx.Document()
    document.add_heading(RULES_TITLE, level=0)
    document.add_paragraph("第一条 本支部读书分享会每月第二个星期三下午在图书室举行。")
    document.add_paragraph("第二条 读书分享会由宣传委员主持，每次推荐一本书。")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def upload(bot: ChatHarness, content: bytes, name: str, *, user: dict = ALICE, caption: str | None = "/kb"):
    return await bot.process(bot.api.user_document(content, name, user=user, caption=caption))


async def test_docx_upload_answers_its_branch_only_from_the_very_next_message(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    (added,) = messages(await upload(bot, rules_docx(), "读书分享会.docx"))
    assert plain(added).startswith(f"已添加《{RULES_TITLE}》（2 段，编号 1）")
    task = bot.app.bot_data[qa.REBUILD_TASK_KEY]
    assert task.done()  # "已添加" was sent only once the new index was in place

    (answer,) = messages(await bot.send(RULES_QUESTION, user=BOB))
    assert "图书室" in plain(answer)
    assert f"来源：《{RULES_TITLE}》" in plain(answer)
    (elsewhere,) = messages(await bot.send(RULES_QUESTION, user=OTHER_SECRETARY))
    assert RULES_TITLE not in plain(elsewhere) and "图书室" not in plain(elsewhere)

    async with sessions() as session:
        stored = (await session.scalars(select(Document))).one()
        audit = (await session.scalars(select(AuditLog))).one()
    assert (stored.scope_branch_id, stored.added_by, stored.filename) == (
        world.branch_id,
        ALICE["id"],
        "读书分享会.docx",
    )
    assert (audit.action, audit.branch_id, audit.actor_member_id) == (
        "kb.add",
        world.branch_id,
        world.member_ids["李明"],
    )


async def test_txt_sent_right_after_kb_is_uploaded_with_its_caption_as_title(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    (listing,) = messages(await bot.send("/kb", user=ORGANIZER))
    assert plain(listing).startswith("第一党支部可供问答引用的资料\n本支部还没有上传资料。")
    (added,) = messages(await upload(bot, DUTY_TEXT.encode(), "duty.txt", user=ORGANIZER, caption="党员活动室值班安排"))
    assert "《党员活动室值班安排》" in plain(added)
    (answer,) = messages(await bot.send("党员活动室谁值守", user=CAROL))
    assert "来源：《党员活动室值班安排》" in plain(answer)

    # the conversation has ended: the next document without a /kb caption is not taken
    assert await upload(bot, DUTY_TEXT.encode(), "again.txt", user=ORGANIZER, caption=None) == []
    assert (await snapshot(sessions))[1] == 1


async def test_list_shows_own_and_shared_documents_and_remove_takes_own_only(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        shared = await add_document(
            session, parse_bytes("# 上级通知\n\n全体党员按时交纳党费。".encode(), "n.md"), "n.md"
        )
        foreign = await add_document(
            session, parse_bytes(DUTY_TEXT.encode(), "d.txt", "第二支部值班"), "d.txt", scope=world.other_branch_id
        )
    await upload(bot, rules_docx(), "rules.docx")
    (listing,) = messages(await bot.send("/kb", user=ALICE))
    lines = plain(listing).splitlines()
    assert lines[1].startswith(f"• 3. 《{RULES_TITLE}》 2 段 · ")
    assert lines[2] == "• 《上级通知》（共享）"
    assert "第二支部值班" not in plain(listing)

    before = await snapshot(sessions)
    for document_id in (shared.id, foreign.id, 99):
        (refused,) = messages(await bot.send(f"/kb remove {document_id}", user=ALICE))
        assert plain(refused).startswith(f"本支部没有编号为 {document_id} 的资料")
    assert await snapshot(sessions) == before

    (removed,) = messages(await bot.send("/kb remove 3", user=ALICE))
    assert plain(removed) == f"已删除《{RULES_TITLE}》，问答不再引用。"
    (answer,) = messages(await bot.send(RULES_QUESTION, user=BOB))
    assert RULES_TITLE not in plain(answer)
    async with sessions() as session:
        actions = (await session.scalars(select(AuditLog.action).order_by(AuditLog.id))).all()
    assert actions == ["kb.add", "kb.remove"]


async def test_unreadable_uploads_are_explained_and_nothing_is_stored(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    before = await snapshot(sessions)
    cases = [
        (b"", "empty.txt", "文件是空的"),
        (b"\xd0\xcf\x11\xe0old word", "old.doc", "暂不支持旧版 .doc 文件"),
        (b"PK\x03\x04", "roster.xlsx", "请上传 .docx、.pdf、.txt 或 .md 文件"),
        (b"PK\x03\x04broken", "broken.docx", "无法打开这个 Word 文件"),
    ]
    for content, name, problem in cases:
        (reply,) = messages(await upload(bot, content, name))
        assert problem in plain(reply), name
    assert await snapshot(sessions) == before


async def test_oversized_upload_is_refused_before_download(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    (reply,) = messages(await upload(bot, b"x" * (MAX_FILE_BYTES + 1), "big.txt"))
    assert plain(reply) == "文件超过 10 MB，请删去图片或拆分成几个文件后再上传。"
    assert not [call for call in bot.api.calls if call.method == "getFile"]
    assert (await snapshot(sessions))[1] == 0


async def test_kb_usage(bot: ChatHarness, world: World) -> None:
    (usage,) = messages(await bot.send("/kb delete 1", user=ALICE))
    assert "/kb remove 编号" in plain(usage)
