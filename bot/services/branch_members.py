"""A branch's member list and the changes the 书记 makes to it: roles, 党小组, moving a member to another branch.

A branch always has exactly one 书记: the role moves, it is never dropped. Roles are given, never taken, by joining
(bot.services.invites); whoever loses an office loses the invite links they created with it. Claim codes, removal
and restoring are bot.services.membership's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import ORGANIZER_ROLES, Branch, Member, MemberStatus, PartyGroup, Role
from bot.services import text_hygiene
from bot.services.access import Caller
from bot.services.branch_setup import MSG_NOT_IN_BRANCH, BranchError, audit, branch_member, clean_name, list_groups
from bot.services.invites import revoke_invites_of

MAX_GROUP_NAME_CHARS = 20

# --- Messages (Simplified Chinese, shown to the user as str(BranchError)) -----------------------------------------
MSG_NO_SUCH_GROUP = "本支部没有「{group}」。现有党小组：{groups}。可先发送 /group add {group} 添加。"
MSG_NO_GROUPS_YET = "无"
MSG_GROUP_EXISTS = "本支部已有「{group}」。"
MSG_SAME_ROLE = "{name}已是{role}，无需更改。"
MSG_SECRETARY_STAYS = "支部不能没有书记。如需更换书记，请发送 /setrole 新书记姓名 书记。"
MSG_SAME_GROUP = "{name}已在{group}，无需更改。"
MSG_NO_SUCH_MEMBER = "没有编号为 {member_id} 的党员。"
MSG_NO_SUCH_BRANCH = "没有编号为 {branch_id} 的支部。"
MSG_SAME_BRANCH = "{name}已在「{branch}」，无需转移。"
MSG_MOVE_SECRETARY = "{name}是「{branch}」的书记，请先把书记移交给他人（/setrole 姓名 书记），再转移。"


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
