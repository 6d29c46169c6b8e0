"""Who is asking, and may they do it here? The branch, role and chat checks every branch command shares.

A command is allowed when the caller is a registered, active member (not removed, not gone from the branch's
group), the chat is private or is the group bound to the caller's own branch, and the caller's role is one the
command names. A refusal is an ``AccessDenied`` whose text tells the user, in Chinese, what is needed.

`question_scope` says whose uploaded documents may answer a question: a group's question is answered from the
branch the group is bound to, never from the asker's own branch.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Branch, Member, Role

NOT_REGISTERED = "您还没有在本助手登记。请向支部书记或组织委员索取邀请链接，打开后按提示登记。"
INACTIVE = "您在「{branch}」的登记已停用，不能再使用支部功能。如有疑问，请联系支部书记。"
WRONG_GROUP = "这个群不是您所在支部绑定的群。请在本支部的群里操作，或者私聊我。"
NEEDS_ROLE = "「{action}」需要由{roles}操作，您目前的身份是{role}。"
ROLE_SEPARATOR = "、"


class AccessDenied(Exception):
    """The caller may not do this; ``str(exc)`` is the Chinese explanation for the user."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The registered member behind an update, with their branch."""

    member: Member
    branch: Branch

    @property
    def role(self) -> Role:
        return Role(self.member.role)


async def find_member(session: AsyncSession, telegram_user_id: int) -> Member | None:
    return await session.scalar(select(Member).where(Member.telegram_user_id == telegram_user_id))


async def authorize(
    session: AsyncSession,
    telegram_user_id: int,
    *,
    chat_id: int,
    private: bool,
    action: str,
    roles: Collection[Role] | None = None,
) -> Caller:
    """The caller, if they may do ``action`` in this chat; ``roles=None`` allows every member."""
    found = (await find_callers(session, [telegram_user_id])).get(telegram_user_id)
    return admit(found, chat_id=chat_id, private=private, action=action, roles=roles)


async def find_callers(session: AsyncSession, telegram_user_ids: Collection[int]) -> dict[int, Caller]:
    """The registered members among these Telegram users, with their branches, in one query."""
    rows = await session.execute(
        select(Member, Branch)
        .join(Branch, Branch.id == Member.branch_id)
        .where(Member.telegram_user_id.in_(telegram_user_ids))
    )
    return {member.telegram_user_id: Caller(member, branch) for member, branch in rows.all()}


def admit(
    found: Caller | None, *, chat_id: int, private: bool, action: str, roles: Collection[Role] | None = None
) -> Caller:
    """The access rule itself: ``found`` (from `find_callers`) may do ``action`` here, or `AccessDenied` says why."""
    if found is None:
        raise AccessDenied(NOT_REGISTERED)
    if not found.member.active:
        raise AccessDenied(INACTIVE.format(branch=found.branch.name))
    if not private and found.branch.chat_id != chat_id:
        raise AccessDenied(WRONG_GROUP)
    if roles is not None and found.role not in roles:
        allowed = ROLE_SEPARATOR.join(r.value for r in Role if r in roles)
        raise AccessDenied(NEEDS_ROLE.format(action=action, roles=allowed, role=found.member.role))
    return found


async def question_scope(
    session: AsyncSession, telegram_user_id: int | None, *, chat_id: int, private: bool
) -> int | None:
    """The branch whose uploaded documents may answer a question here (None: shared knowledge only).

    In a group, the branch bound to that group, whoever asks: a member of another branch must not carry their
    own branch's documents into it. In a private chat, the asker's branch while they are an active member.
    """
    if not private:
        return await session.scalar(select(Branch.id).where(Branch.chat_id == chat_id))
    if telegram_user_id is None:
        return None
    return await session.scalar(
        select(Member.branch_id).where(Member.telegram_user_id == telegram_user_id, Member.active.is_(True))
    )
