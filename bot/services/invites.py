"""Invite links and joining a branch through one.

An invite admits at most ``max_uses`` people (one atomic ``UPDATE … WHERE uses < max_uses``). Invite tokens are
stored as SHA-256 hashes. Joining through an invite makes a person at most 党员, also when they confirm an
imported roster row that names an office (only the 书记's /setrole, or a claim link, bot.services.membership,
gives an office). An officer who loses the office (demoted, handed the 书记 role over, moved, removed) loses the
invite links they created with it: `revoke_invites_of`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Branch, Invite, Member, MemberStatus, PartyGroup, Role
from bot.services.access import Caller
from bot.services.branch_setup import (
    MAX_MEMBER_NAME_CHARS,
    MSG_JUST_REGISTERED,
    BranchError,
    audit,
    clean_name,
    hash_token,
    list_groups,
    refuse_if_registered,
)

INVITE_LIFETIME = timedelta(days=7)
INVITE_MAX_USES = 50
INVITE_TOKEN_BYTES = 16  # secrets.token_urlsafe(16): 22 characters of [A-Za-z0-9_-]

# --- Messages (Simplified Chinese, shown to the user as str(BranchError)) -----------------------------------------
MSG_INVITE_INVALID = "邀请链接已失效，请向书记或组织委员索取新的链接。"
MSG_ROSTER_TAKEN = "名册中的这条记录刚刚已被他人认领。请联系书记核实。"


@dataclass(frozen=True, slots=True)
class IssuedInvite:
    """A join link just made: ``token`` exists only here (the database keeps its hash), so show it now."""

    id: int
    token: str
    expires_at: datetime
    max_uses: int


@dataclass(frozen=True, slots=True)
class JoinOffer:
    """What a valid invite link offers: the branch, and its 党小组 to choose from (id, name)."""

    branch_id: int
    branch_name: str
    groups: tuple[tuple[int, str], ...]


async def create_invite(session: AsyncSession, caller: Caller, now: datetime) -> IssuedInvite:
    """A new join link for the caller's branch: valid for INVITE_LIFETIME, INVITE_MAX_USES people."""
    token = secrets.token_urlsafe(INVITE_TOKEN_BYTES)
    invite = Invite(
        token_hash=hash_token(token),
        branch_id=caller.branch.id,
        created_by=caller.member.id,
        expires_at=now + INVITE_LIFETIME,
        max_uses=INVITE_MAX_USES,
        created_at=now,
    )
    session.add(invite)
    await session.flush()
    assert invite.id is not None
    audit(
        session,
        "invite.create",
        now,
        caller=caller,
        target=f"#{invite.id}",  # the log tells links apart by id; it never holds a usable token
        detail={"expires_at": invite.expires_at, "max_uses": invite.max_uses},
    )
    await session.commit()
    return IssuedInvite(invite.id, token, invite.expires_at, invite.max_uses)


def _usable_invite(token: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        Invite.token_hash == hash_token(token),
        Invite.uses < Invite.max_uses,
        Invite.expires_at > now,
        Invite.revoked_at.is_(None),
    )


async def open_invite(session: AsyncSession, token: str, telegram_user_id: int, now: datetime) -> JoinOffer:
    """What the invite ``token`` offers this person, or BranchError (already registered; link invalid)."""
    await refuse_if_registered(session, telegram_user_id)
    invite = await session.scalar(select(Invite).where(_usable_invite(token, now)))
    branch = await session.get(Branch, invite.branch_id) if invite is not None else None
    if invite is None or branch is None:
        raise BranchError(MSG_INVITE_INVALID)
    groups = await list_groups(session, branch.id)
    return JoinOffer(branch.id, branch.name, tuple((group.id, group.name) for group in groups if group.id is not None))


async def revoke_invites(session: AsyncSession, caller: Caller, now: datetime) -> int:
    """/invite revoke: every join link of the caller's branch that could still be used stops working; how many."""
    revoked = await session.execute(
        update(Invite)
        .where(
            Invite.branch_id == caller.branch.id,
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
            Invite.uses < Invite.max_uses,
        )
        .values(revoked_at=now)
        .returning(Invite.id)
        .execution_options(synchronize_session=False)
    )
    ids = sorted(revoked.scalars().all())
    audit(session, "invite.revoke", now, caller=caller, detail={"invites": ids})
    await session.commit()
    return len(ids)


async def revoke_invites_of(session: AsyncSession, member_ids: Sequence[int], now: datetime) -> None:
    """The links these members created stop working (they lost the office that let them invite); no commit."""
    if member_ids:
        await session.execute(
            update(Invite)
            .where(Invite.created_by.in_(member_ids), Invite.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )


async def find_roster_entry(session: AsyncSession, branch_id: int, name: str) -> Member | None:
    """An active member of the branch with this name, imported from a roster and not yet linked to a Telegram user."""
    return await session.scalar(
        select(Member)
        .where(
            Member.branch_id == branch_id,
            Member.name == name,
            Member.telegram_user_id.is_(None),
            Member.active.is_(True),
        )
        .order_by(Member.id)
        .limit(1)
    )


async def join_branch(
    session: AsyncSession,
    *,
    token: str,
    telegram_user_id: int,
    name: str,
    status: MemberStatus,
    party_group_id: int | None,
    roster_member_id: int | None,
    now: datetime,
) -> Caller:
    """Register through an invite: a new 党员, or (``roster_member_id``) the roster entry the person confirmed.

    Whatever office the roster entry names, the person joins as 党员: typing a name proves nothing. The entry's
    office goes on record in the audit log, for the 书记 to give with /setrole or a claim link.

    The invite's use is taken first with one conditional UPDATE, so concurrent joins can never exceed
    ``max_uses``; any later refusal rolls the use back with everything else.
    """
    claimed = await session.execute(
        update(Invite)
        .where(_usable_invite(token, now))
        .values(uses=Invite.uses + 1)
        .returning(Invite.id, Invite.branch_id)
        .execution_options(synchronize_session=False)
    )
    used = claimed.one_or_none()
    if used is None:
        await session.rollback()
        raise BranchError(MSG_INVITE_INVALID)
    invite_id, branch_id = used
    imported_role: str | None = None
    try:
        if roster_member_id is not None:
            member = await _link_roster_entry(session, branch_id, roster_member_id, telegram_user_id)
            if member.role != Role.MEMBER:
                imported_role, member.role = member.role, Role.MEMBER.value
        else:
            member = Member(
                branch_id=branch_id,
                telegram_user_id=telegram_user_id,
                name=clean_name(name, "姓名", MAX_MEMBER_NAME_CHARS),
                status=status.value,
                role=Role.MEMBER.value,
                party_group_id=await _own_group_id(session, branch_id, party_group_id),
                joined_at=now,
            )
            session.add(member)
        await session.flush()
    except IntegrityError as error:  # the same person joined twice at once: telegram_user_id is unique
        await session.rollback()
        raise BranchError(MSG_JUST_REGISTERED) from error
    except BranchError:
        await session.rollback()
        raise
    branch = await session.get(Branch, branch_id)
    assert branch is not None  # the invite's foreign key
    caller = Caller(member, branch)
    audit(
        session,
        "member.join",
        now,
        caller=caller,
        target=member.name,
        detail={
            "invite": invite_id,
            "linked_roster_entry": roster_member_id is not None,
            "imported_role": imported_role,
        },
    )
    await session.commit()
    return caller


async def _link_roster_entry(session: AsyncSession, branch_id: int, member_id: int, telegram_user_id: int) -> Member:
    linked = await session.scalar(
        update(Member)
        .where(
            Member.id == member_id,
            Member.branch_id == branch_id,
            Member.telegram_user_id.is_(None),
            Member.active.is_(True),
        )
        .values(telegram_user_id=telegram_user_id, claim_code_hash=None, claim_code_expires_at=None)
        .returning(Member.id)
        .execution_options(synchronize_session=False)
    )
    member = await session.get(Member, member_id, populate_existing=True) if linked is not None else None
    if member is None:
        raise BranchError(MSG_ROSTER_TAKEN)
    return member


async def _own_group_id(session: AsyncSession, branch_id: int, party_group_id: int | None) -> int | None:
    """``party_group_id`` if it is one of the branch's 党小组 (a stale button may carry a deleted one)."""
    if party_group_id is None:
        return None
    group = await session.get(PartyGroup, party_group_id)
    return group.id if group is not None and group.branch_id == branch_id else None
