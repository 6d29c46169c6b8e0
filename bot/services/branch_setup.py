"""Setting up a branch and keeping it bound to its Telegram group, and what the other branch services share.

Shared here: `BranchError` (a refusal a user can cause; its text is the Chinese answer), cleaning names, audit rows
stamped with the service's ``now``, token hashes, the branch's timezone, and the branch's 党小组 list. Every change
commits in one transaction together with its AuditLog row. The invariants kept here: a Telegram group is bound to
at most one branch, and a person is registered in at most one branch.

Invite links and joining live in bot.services.invites; the member list, roles, 党小组 and moving a member in
bot.services.branch_members; claim codes, removal and restoring in bot.services.membership.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Branch, Member, MemberStatus, PartyGroup, Reminder, ReminderStatus, Role
from bot.services import text_hygiene
from bot.services.access import Caller, find_member
from bot.services.audit import record_change

MAX_MEMBER_NAME_CHARS = 20
MAX_BRANCH_NAME_CHARS = 50

# --- Messages (Simplified Chinese, shown to the user as str(BranchError)) -----------------------------------------
MSG_NAME_EMPTY = "请填写{what}。"
MSG_NAME_TOO_LONG = "{what}最多 {limit} 个字，请写短一些。"
MSG_NAME_BAD_CHARS = "{what}里不能有换行，请写在一行里重新填写。"
MSG_CHAT_BOUND = "本群已绑定「{branch}」，不能再创建新支部。发送 /members 可查看该支部名单。"
MSG_ALREADY_REGISTERED = "您已经是「{branch}」的登记党员，一个人只能在一个支部登记。如需转到其他支部，请联系书记。"
MSG_INACTIVE_REGISTERED = "您在「{branch}」的登记已停用，不能通过链接重新登记。如需恢复，请联系该支部书记。"
MSG_JUST_REGISTERED = "您或本群刚刚已完成登记，请发送 /members 查看。"
MSG_NOT_IN_BRANCH = "这位同志已不在本支部名单中，请发送 /members 查看最新名单。"

_LINE_BREAK = re.compile(r"[\n\r\u2028\u2029]")


class BranchError(Exception):
    """The change is refused; ``str(exc)`` is the Chinese explanation for the user."""


# --- small shared pieces -------------------------------------------------------------------------------------------


def clean_name(text: str, what: str, limit: int) -> str:
    """``text`` as a name (text_hygiene.clean_name: NFKC, control and format characters dropped, whitespace
    collapsed), or BranchError naming ``what`` (e.g. "姓名") if unusable (a line break inside is a mistake)."""
    if _LINE_BREAK.search(text.strip()):
        raise BranchError(MSG_NAME_BAD_CHARS.format(what=what))
    name = text_hygiene.clean_name(text)
    if not name:
        raise BranchError(MSG_NAME_EMPTY.format(what=what))
    if len(name) > limit:
        raise BranchError(MSG_NAME_TOO_LONG.format(what=what, limit=limit))
    return name


def hash_token(token: str) -> str:
    """What is stored of a link's secret (invite token, claim code): its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def branch_time(branch: Branch, moment: datetime) -> datetime:
    """``moment`` in the branch's timezone (for when.format_when)."""
    return moment.astimezone(ZoneInfo(branch.timezone))


def audit(
    session: AsyncSession,
    action: str,
    now: datetime,
    *,
    caller: Caller | None,
    branch_id: int | None = None,
    actor_telegram_id: int | None = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """record_change, stamped with the service's ``now`` rather than the clock."""
    entry = record_change(
        session,
        action,
        caller=caller,
        branch_id=branch_id,
        actor_telegram_id=actor_telegram_id,
        target=target,
        detail=detail,
    )
    entry.at = now


async def branch_member(session: AsyncSession, caller: Caller, member_id: int) -> Member:
    """A member of the caller's branch by id (e.g. from a button), or BranchError if not (or no longer) there."""
    member = await session.get(Member, member_id)
    if member is None or member.branch_id != caller.branch.id:
        raise BranchError(MSG_NOT_IN_BRANCH)
    return member


async def list_groups(session: AsyncSession, branch_id: int) -> Sequence[PartyGroup]:
    """The branch's 党小组 in the order they were added (第一、第二… as the branch created them)."""
    result = await session.scalars(select(PartyGroup).where(PartyGroup.branch_id == branch_id).order_by(PartyGroup.id))
    return result.all()


# --- setting up a branch -------------------------------------------------------------------------------------------


async def setup_branch(
    session: AsyncSession, *, name: str, chat_id: int, telegram_user_id: int, member_name: str, now: datetime
) -> Caller:
    """A new branch bound to ``chat_id``, with the caller registered as its 书记 (正式党员).

    The caller's group-admin status is Telegram's to check, before calling this.
    """
    name = clean_name(name, "支部名称", MAX_BRANCH_NAME_CHARS)
    # A Telegram name is not the user's to fix here: a long one is shortened rather than refused.
    member_name = clean_name(member_name[:MAX_MEMBER_NAME_CHARS], "姓名", MAX_MEMBER_NAME_CHARS)
    bound = await session.scalar(select(Branch).where(Branch.chat_id == chat_id))
    if bound is not None:
        raise BranchError(MSG_CHAT_BOUND.format(branch=bound.name))
    await refuse_if_registered(session, telegram_user_id)
    branch = Branch(name=name, chat_id=chat_id, created_at=now)
    session.add(branch)
    try:
        await session.flush()
        secretary = Member(
            branch_id=branch.id,
            telegram_user_id=telegram_user_id,
            name=member_name,
            status=MemberStatus.FULL.value,
            role=Role.SECRETARY.value,
            joined_at=now,
        )
        session.add(secretary)
        await session.flush()
    except IntegrityError as error:  # PostgreSQL: another /setup in this group, or by this person, won the race
        await session.rollback()
        raise BranchError(MSG_JUST_REGISTERED) from error
    caller = Caller(secretary, branch)
    audit(session, "branch.setup", now, caller=caller, target=name, detail={"chat_id": chat_id})
    await session.commit()
    return caller


async def refuse_if_registered(session: AsyncSession, telegram_user_id: int) -> None:
    """BranchError if this person is registered already (an inactive registration too: only the 书记 restores)."""
    member = await find_member(session, telegram_user_id)
    if member is not None:
        branch = await session.get(Branch, member.branch_id)
        template = MSG_ALREADY_REGISTERED if member.active else MSG_INACTIVE_REGISTERED
        raise BranchError(template.format(branch=branch.name if branch else ""))


async def follow_chat_migration(
    session: AsyncSession, old_chat_id: int, new_chat_id: int, now: datetime
) -> Branch | None:
    """A group upgraded to a supergroup gets a new chat id: the branch bound to it, and its group reminders not yet
    sent, move to the new id. None if no branch was bound to the old id (unbound, or moved already: Telegram
    announces a migration in both chats)."""
    branch = await session.scalar(select(Branch).where(Branch.chat_id == old_chat_id))
    if branch is None:
        return None
    branch.chat_id = new_chat_id
    await session.execute(
        update(Reminder)
        .where(Reminder.chat_id == old_chat_id, Reminder.status == ReminderStatus.PENDING.value)
        .values(chat_id=new_chat_id)
    )
    audit(
        session,
        "branch.chat_migrated",
        now,
        caller=None,
        branch_id=branch.id,
        detail={"from": old_chat_id, "to": new_chat_id},
    )
    return branch


async def list_branches(session: AsyncSession) -> list[tuple[Branch, int]]:
    """Every branch with its number of members, by id (for the operator's command line)."""
    counts = (
        select(Branch, func.count(Member.id))
        .outerjoin(Member, Member.branch_id == Branch.id)
        .group_by(Branch.id)
        .order_by(Branch.id)
    )
    return [(branch, count) for branch, count in (await session.execute(counts)).all()]
