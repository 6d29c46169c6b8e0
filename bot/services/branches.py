"""Branches and their members: set up a branch, invite links and joining, roles, 党小组, moving a member.

Every change commits in one transaction together with its AuditLog row. A refusal a user can cause is a
`BranchError` whose text is the Chinese answer. The invariants kept here: a Telegram group is bound to at most one
branch, a person is registered in at most one branch, an invite admits at most ``max_uses`` people (one atomic
``UPDATE … WHERE uses < max_uses``), and a branch always has exactly one 书记 (the role moves, it is never dropped).

Roles are given, never taken: joining through an invite makes a person at most 党员, also when they confirm an
imported roster row that names an office (only the 书记's /setrole, or a claim link, bot.services.membership,
gives an office). Invite tokens are stored as SHA-256 hashes; an officer who loses the office (demoted, handed
the 书记 role over, moved, removed) loses the invite links they created with it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (
    ORGANIZER_ROLES,
    Branch,
    Invite,
    Member,
    MemberStatus,
    PartyGroup,
    Reminder,
    ReminderStatus,
    Role,
)
from bot.services import text_hygiene
from bot.services.access import Caller, find_member
from bot.services.audit import record_change

INVITE_LIFETIME = timedelta(days=7)
INVITE_MAX_USES = 50
INVITE_TOKEN_BYTES = 16  # secrets.token_urlsafe(16): 22 characters of [A-Za-z0-9_-]
MAX_MEMBER_NAME_CHARS = 20
MAX_BRANCH_NAME_CHARS = 50
MAX_GROUP_NAME_CHARS = 20

# --- Messages (Simplified Chinese, shown to the user as str(BranchError)) -----------------------------------------
MSG_NAME_EMPTY = "请填写{what}。"
MSG_NAME_TOO_LONG = "{what}最多 {limit} 个字，请写短一些。"
MSG_NAME_BAD_CHARS = "{what}里不能有换行，请写在一行里重新填写。"
MSG_CHAT_BOUND = "本群已绑定「{branch}」，不能再创建新支部。发送 /members 可查看该支部名单。"
MSG_ALREADY_REGISTERED = "您已经是「{branch}」的登记党员，一个人只能在一个支部登记。如需转到其他支部，请联系书记。"
MSG_INACTIVE_REGISTERED = "您在「{branch}」的登记已停用，不能通过链接重新登记。如需恢复，请联系该支部书记。"
MSG_JUST_REGISTERED = "您或本群刚刚已完成登记，请发送 /members 查看。"
MSG_INVITE_INVALID = "邀请链接已失效，请向书记或组织委员索取新的链接。"
MSG_ROSTER_TAKEN = "名册中的这条记录刚刚已被他人认领。请联系书记核实。"
MSG_NO_SUCH_GROUP = "本支部没有「{group}」。现有党小组：{groups}。可先发送 /group add {group} 添加。"
MSG_NO_GROUPS_YET = "无"
MSG_GROUP_EXISTS = "本支部已有「{group}」。"
MSG_NOT_IN_BRANCH = "这位同志已不在本支部名单中，请发送 /members 查看最新名单。"
MSG_SAME_ROLE = "{name}已是{role}，无需更改。"
MSG_SECRETARY_STAYS = "支部不能没有书记。如需更换书记，请发送 /setrole 新书记姓名 书记。"
MSG_SAME_GROUP = "{name}已在{group}，无需更改。"
MSG_NO_SUCH_MEMBER = "没有编号为 {member_id} 的党员。"
MSG_NO_SUCH_BRANCH = "没有编号为 {branch_id} 的支部。"
MSG_SAME_BRANCH = "{name}已在「{branch}」，无需转移。"
MSG_MOVE_SECRETARY = "{name}是「{branch}」的书记，请先把书记移交给他人（/setrole 姓名 书记），再转移。"

_LINE_BREAK = re.compile(r"[\n\r\u2028\u2029]")


class BranchError(Exception):
    """The change is refused; ``str(exc)`` is the Chinese explanation for the user."""


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


@dataclass(frozen=True, slots=True)
class GroupRoster:
    """The members of one 党小组 (``name`` None: members in no 党小组)."""

    name: str | None
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class BranchRoster:
    """A branch's active members: counts by status, then members by 党小组 (无党小组 last); and how many were
    removed or left (kept on record, not listed)."""

    full: int
    probationary: int
    groups: tuple[GroupRoster, ...]
    inactive: int = 0


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


# --- invites and joining -------------------------------------------------------------------------------------------


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


# --- reading the member list ---------------------------------------------------------------------------------------


async def mark_reachable(session: AsyncSession, telegram_user_id: int) -> bool:
    """The member can be written to again (they opened the private chat after blocking the bot).

    True if they had been marked unreachable: the planner then resumes their private reminders.
    """
    result = await session.execute(
        update(Member)
        .where(Member.telegram_user_id == telegram_user_id, Member.reachable.is_(False))
        .values(reachable=True)
    )
    return bool(result.rowcount)


async def list_groups(session: AsyncSession, branch_id: int) -> Sequence[PartyGroup]:
    """The branch's 党小组 in the order they were added (第一、第二… as the branch created them)."""
    result = await session.scalars(select(PartyGroup).where(PartyGroup.branch_id == branch_id).order_by(PartyGroup.id))
    return result.all()


async def branch_roster(session: AsyncSession, branch_id: int) -> BranchRoster:
    """Counts by status, then active members by 党小组 in creation order, 无党小组 last; committee roles first."""
    everyone = (await session.scalars(select(Member).where(Member.branch_id == branch_id).order_by(Member.id))).all()
    members = [member for member in everyone if member.active]
    role_rank = {role.value: rank for rank, role in enumerate(Role)}
    by_group: dict[int | None, list[Member]] = {}
    for member in sorted(members, key=lambda m: role_rank.get(m.role, len(role_rank))):
        by_group.setdefault(member.party_group_id, []).append(member)
    groups = [
        GroupRoster(group.name, tuple(by_group[group.id]))
        for group in await list_groups(session, branch_id)
        if group.id in by_group
    ]
    if None in by_group:
        groups.append(GroupRoster(None, tuple(by_group[None])))
    return BranchRoster(
        full=sum(member.status == MemberStatus.FULL for member in members),
        probationary=sum(member.status == MemberStatus.PROBATIONARY for member in members),
        groups=tuple(groups),
        inactive=len(everyone) - len(members),
    )


async def list_branches(session: AsyncSession) -> list[tuple[Branch, int]]:
    """Every branch with its number of members, by id (for the operator's command line)."""
    counts = (
        select(Branch, func.count(Member.id))
        .outerjoin(Member, Member.branch_id == Branch.id)
        .group_by(Branch.id)
        .order_by(Branch.id)
    )
    return [(branch, count) for branch, count in (await session.execute(counts)).all()]


async def members_named(session: AsyncSession, branch_id: int, name: str, *, active: bool = True) -> Sequence[Member]:
    """Active (or, ``active=False``, removed) members of the branch with exactly this name (several when names
    repeat)."""
    result = await session.scalars(
        select(Member)
        .where(Member.branch_id == branch_id, Member.name == text_hygiene.clean_name(name), Member.active.is_(active))
        .order_by(Member.id)
    )
    return result.all()


async def member_by_telegram_id(session: AsyncSession, branch_id: int, telegram_user_id: int) -> Member | None:
    """The active member of this branch behind a Telegram user (e.g. the author of a replied-to message)."""
    return await session.scalar(
        select(Member).where(
            Member.branch_id == branch_id, Member.telegram_user_id == telegram_user_id, Member.active.is_(True)
        )
    )


async def group_name(session: AsyncSession, party_group_id: int | None) -> str | None:
    group = await session.get(PartyGroup, party_group_id) if party_group_id is not None else None
    return group.name if group is not None else None


# --- roles ---------------------------------------------------------------------------------------------------------


async def set_role(
    session: AsyncSession, caller: Caller, member_id: int, role: Role, now: datetime
) -> tuple[Member, Role]:
    """Give a member of the caller's branch ``role``; returns the member and their previous role.

    Making someone 书记 moves the role: every other 书记 of the branch becomes 党员 in the same transaction
    (confirm with the user first); taking it away otherwise is refused. Whoever loses the right to invite loses
    the invite links they made, at once; a 书记 handing over also voids the claim links still outstanding.
    """
    member = await branch_member(session, caller, member_id)
    previous = Role(member.role)
    if not member.active:
        raise BranchError(MSG_NOT_IN_BRANCH)
    if previous == role:
        raise BranchError(MSG_SAME_ROLE.format(name=member.name, role=role.value))
    if previous == Role.SECRETARY:
        raise BranchError(MSG_SECRETARY_STAYS)
    if role == Role.SECRETARY:
        handed_over = await session.execute(
            update(Member)
            .where(Member.branch_id == caller.branch.id, Member.role == Role.SECRETARY.value)
            .values(role=Role.MEMBER.value)
            .returning(Member.id)
            .execution_options(synchronize_session="fetch")
        )
        await revoke_invites_of(session, list(handed_over.scalars().all()), now)
        await session.execute(
            update(Member)
            .where(Member.branch_id == caller.branch.id, Member.claim_code_hash.is_not(None))
            .values(claim_code_hash=None, claim_code_expires_at=None)
            .execution_options(synchronize_session="fetch")
        )
    elif previous in ORGANIZER_ROLES and role not in ORGANIZER_ROLES:
        await revoke_invites_of(session, [member_id], now)
    member.role = role.value
    audit(
        session,
        "member.transfer_secretary" if role == Role.SECRETARY else "member.setrole",
        now,
        caller=caller,
        target=member.name,
        detail={"member_id": member.id, "from": previous.value, "to": role.value},
    )
    await session.commit()
    return member, previous


# --- 党小组 --------------------------------------------------------------------------------------------------------


async def add_group(session: AsyncSession, caller: Caller, name: str, now: datetime) -> PartyGroup:
    """A new 党小组 in the caller's branch."""
    name = clean_name(name, "党小组名称", MAX_GROUP_NAME_CHARS)
    existing = await session.scalar(
        select(func.count()).where(PartyGroup.branch_id == caller.branch.id, PartyGroup.name == name)
    )
    if existing:
        raise BranchError(MSG_GROUP_EXISTS.format(group=name))
    group = PartyGroup(branch_id=caller.branch.id, name=name)
    session.add(group)
    try:
        await session.flush()
    except IntegrityError as error:  # added by someone else a moment ago (PostgreSQL)
        await session.rollback()
        raise BranchError(MSG_GROUP_EXISTS.format(group=name)) from error
    audit(session, "group.add", now, caller=caller, target=name, detail={"party_group_id": group.id})
    await session.commit()
    return group


async def assign_group(session: AsyncSession, caller: Caller, member_id: int, group: str, now: datetime) -> Member:
    """Put a member of the caller's branch into the 党小组 named ``group``."""
    member = await branch_member(session, caller, member_id)
    name = text_hygiene.clean_name(group)  # as stored by add_group
    party_group = await session.scalar(
        select(PartyGroup).where(PartyGroup.branch_id == caller.branch.id, PartyGroup.name == name)
    )
    if party_group is None:
        names = [existing.name for existing in await list_groups(session, caller.branch.id)]
        raise BranchError(MSG_NO_SUCH_GROUP.format(group=name, groups="、".join(names) or MSG_NO_GROUPS_YET))
    if member.party_group_id == party_group.id:
        raise BranchError(MSG_SAME_GROUP.format(name=member.name, group=name))
    previous = await group_name(session, member.party_group_id)
    member.party_group_id = party_group.id
    audit(
        session,
        "group.set",
        now,
        caller=caller,
        target=member.name,
        detail={"member_id": member.id, "from": previous, "to": name},
    )
    await session.commit()
    return member


# --- moving a member -----------------------------------------------------------------------------------------------


async def move_member(
    session: AsyncSession, member_id: int, to_branch_id: int, now: datetime, caller: Caller | None
) -> Member:
    """Move a member to another branch (``caller`` None: the operator, from the command line).

    Attendance rows keep pointing at the member, so their history stays intact. Branch-specific standing does
    not travel: the member arrives as 党员 in no 党小组. A 书记 must hand the role over before leaving.
    """
    member = await session.get(Member, member_id)
    if member is None:
        raise BranchError(MSG_NO_SUCH_MEMBER.format(member_id=member_id))
    target = await session.get(Branch, to_branch_id)
    if target is None:
        raise BranchError(MSG_NO_SUCH_BRANCH.format(branch_id=to_branch_id))
    source = await session.get(Branch, member.branch_id)
    assert source is not None  # the member's foreign key
    if source.id == target.id:
        raise BranchError(MSG_SAME_BRANCH.format(name=member.name, branch=target.name))
    if member.role == Role.SECRETARY:
        raise BranchError(MSG_MOVE_SECRETARY.format(name=member.name, branch=source.name))
    detail = {"member_id": member.id, "from_branch": source.id, "to_branch": target.id, "role": member.role}
    member.branch_id, member.role, member.party_group_id = target.id, Role.MEMBER.value, None
    await revoke_invites_of(session, [member_id], now)
    audit(session, "member.move", now, caller=caller, branch_id=source.id, target=member.name, detail=detail)
    await session.commit()
    return member
