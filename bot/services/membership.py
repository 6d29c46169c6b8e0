"""A member's lifecycle: claim links for imported roster rows, removal (/remove), leaving the bound group, restoring.

Nobody is ever deleted: a member who is removed, or who leaves (or is removed from) the branch's group, becomes
inactive — ``active`` False, ``left_at`` set — and every record that names them stays. An inactive member can no
longer act (bot.services.access refuses them), holds no office (the role becomes 党员), and the invite links they
created stop working, all in the same transaction. The 书记 is never made inactive: a branch always has one who
can act, so the role is handed over first.

A claim link gives the person who opens it one imported roster row *with* its office: the 书记 makes one per row
(/claimcode 姓名), hands it to that person, and it works once, before it expires. Only its SHA-256 is stored.
Refusals are `BranchError`s whose text is the Chinese answer, as in bot.services.branch_setup.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Branch, Member, Reminder, ReminderStatus, Role
from bot.services.access import Caller
from bot.services.branch_setup import (
    MSG_JUST_REGISTERED,
    BranchError,
    audit,
    branch_member,
    hash_token,
    refuse_if_registered,
)
from bot.services.invites import revoke_invites_of

CLAIM_LIFETIME = timedelta(days=7)
CLAIM_CODE_BYTES = 12  # secrets.token_urlsafe(12): 16 characters of [A-Za-z0-9_-]

# --- Messages (Simplified Chinese, shown to the user as str(BranchError)) -----------------------------------------
MSG_CLAIM_INVALID = "认领链接已失效（已使用或已过期）。请向支部书记索取新的认领链接。"
MSG_CLAIM_LINKED = "{name}已经登记，无需认领。如需调整职务，请发送 /setrole {name} 职务。"
MSG_REMOVE_SECRETARY = "不能移出书记。如需更换书记，请先发送 /setrole 新书记姓名 书记，再由新书记操作。"
MSG_ALREADY_REMOVED = "{name}已移出本支部，无需重复操作。如需恢复，请发送 /restore {name}。"
MSG_NOT_REMOVED = "{name}仍在本支部名单中，无需恢复。"


class LeftGroup(StrEnum):
    """What leaving the branch's group did to the person's registration."""

    NOT_A_MEMBER = "not_a_member"  # no active member of the group's branch (or the group is bound to none)
    DEACTIVATED = "deactivated"
    SECRETARY_KEPT = "secretary_kept"  # the 书记 stays active: the branch must keep one who can act


@dataclass(frozen=True, slots=True)
class IssuedClaim:
    """A claim link just made: ``code`` exists only here (the database keeps its hash), so show it now."""

    member_id: int
    name: str
    role: str
    code: str
    expires_at: datetime


# --- claim links ---------------------------------------------------------------------------------------------------


async def issue_claim_code(session: AsyncSession, caller: Caller, member_id: int, now: datetime) -> IssuedClaim:
    """A one-time claim code for an imported roster row not yet linked to anyone; replaces any earlier code."""
    member = await branch_member(session, caller, member_id)
    if member.telegram_user_id is not None:
        raise BranchError(MSG_CLAIM_LINKED.format(name=member.name))
    if not member.active:
        raise BranchError(MSG_ALREADY_REMOVED.format(name=member.name))
    code = secrets.token_urlsafe(CLAIM_CODE_BYTES)
    member.claim_code_hash, member.claim_code_expires_at = hash_token(code), now + CLAIM_LIFETIME
    audit(
        session,
        "member.claim_code",
        now,
        caller=caller,
        target=member.name,
        detail={"member_id": member.id, "role": member.role, "expires_at": member.claim_code_expires_at},
    )
    await session.commit()
    assert member.id is not None
    return IssuedClaim(member.id, member.name, member.role, code, now + CLAIM_LIFETIME)


async def claim_roster_entry(session: AsyncSession, code: str, telegram_user_id: int, now: datetime) -> Caller:
    """Link this person to the roster row the claim ``code`` was made for, office included; the code is spent.

    One conditional UPDATE links the row and clears the code, so two people opening the same link at once cannot
    both get it."""
    await refuse_if_registered(session, telegram_user_id)
    try:
        linked = await session.scalar(
            update(Member)
            .where(
                Member.claim_code_hash == hash_token(code),
                Member.claim_code_expires_at > now,
                Member.telegram_user_id.is_(None),
                Member.active.is_(True),
            )
            .values(telegram_user_id=telegram_user_id, claim_code_hash=None, claim_code_expires_at=None)
            .returning(Member.id)
            .execution_options(synchronize_session=False)
        )
    except IntegrityError as error:  # the same person registered a moment ago: telegram_user_id is unique
        await session.rollback()
        raise BranchError(MSG_JUST_REGISTERED) from error
    member = await session.get(Member, linked, populate_existing=True) if linked is not None else None
    branch = await session.get(Branch, member.branch_id) if member is not None else None
    if member is None or branch is None:
        await session.rollback()
        raise BranchError(MSG_CLAIM_INVALID)
    caller = Caller(member, branch)
    audit(session, "member.claim", now, caller=caller, target=member.name, detail={"role": member.role})
    await session.commit()
    return caller


# --- leaving: /remove, leaving the group, /restore ----------------------------------------------------------------


async def remove_member(session: AsyncSession, caller: Caller, member_id: int, now: datetime) -> Member:
    """/remove: the member becomes inactive (records kept, office and invite links gone)."""
    member = await branch_member(session, caller, member_id)
    if not member.active:
        raise BranchError(MSG_ALREADY_REMOVED.format(name=member.name))
    if member.role == Role.SECRETARY:
        raise BranchError(MSG_REMOVE_SECRETARY)
    previous_role = await _deactivate(session, member, now)
    detail = {"member_id": member.id, "role": previous_role}
    audit(session, "member.remove", now, caller=caller, target=member.name, detail=detail)
    await session.commit()
    return member


async def leave_group(session: AsyncSession, chat_id: int, telegram_user_id: int, now: datetime) -> LeftGroup:
    """The person left, or was removed from, the Telegram group ``chat_id``: if it is a branch's group and they are
    its active member, they become inactive (the 书记 excepted: recorded, kept)."""
    found = await session.execute(
        select(Member, Branch)
        .join(Branch, Branch.id == Member.branch_id)
        .where(Branch.chat_id == chat_id, Member.telegram_user_id == telegram_user_id, Member.active.is_(True))
    )
    row = found.one_or_none()
    if row is None:
        return LeftGroup.NOT_A_MEMBER
    member, branch = row
    kept = member.role == Role.SECRETARY
    previous_role = member.role if kept else await _deactivate(session, member, now)
    detail = {"member_id": member.id, "role": previous_role, "kept": kept}
    audit(session, "member.left_group", now, caller=None, branch_id=branch.id, target=member.name, detail=detail)
    await session.commit()
    return LeftGroup.SECRETARY_KEPT if kept else LeftGroup.DEACTIVATED


async def restore_member(session: AsyncSession, caller: Caller, member_id: int, now: datetime) -> Member:
    """/restore: a removed member is active again, as 党员 (an office is given anew with /setrole)."""
    member = await branch_member(session, caller, member_id)
    if member.active:
        raise BranchError(MSG_NOT_REMOVED.format(name=member.name))
    member.active, member.left_at = True, None
    audit(session, "member.restore", now, caller=caller, target=member.name, detail={"member_id": member.id})
    await session.commit()
    return member


async def _deactivate(session: AsyncSession, member: Member, now: datetime) -> str:
    """Inactive from ``now``: no office, no claim link, no invite links of theirs, no reminders still to come.
    Returns the office they held."""
    assert member.id is not None
    previous_role = member.role
    member.active, member.left_at, member.role = False, now, Role.MEMBER.value
    member.claim_code_hash = member.claim_code_expires_at = None
    await revoke_invites_of(session, [member.id], now)
    await session.execute(
        update(Reminder)
        .where(Reminder.member_id == member.id, Reminder.status == ReminderStatus.PENDING.value)
        .values(status=ReminderStatus.CANCELLED.value)
        .execution_options(synchronize_session=False)
    )
    return previous_role
