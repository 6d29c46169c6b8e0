"""bot/services/branches.py on both databases: setup, invites and joining (with the 60-on-50 race), roles, 党小组,
the member list, and moving a member with their attendance history."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import (
    Activity,
    ActivityKind,
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    AuditLog,
    Branch,
    Invite,
    Member,
    MemberStatus,
    PartyGroup,
    Role,
)
from bot.services import branches
from bot.services.access import Caller, authorize
from bot.services.branch_setup import BranchError, hash_token
from tests.branch.conftest import NOW, count_rows
from tests.telegram.helpers import ALICE, BOB, GROUP

OTHER_GROUP_ID = -1009876543210


async def audit_actions(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


async def new_invite(sessions: async_sessionmaker[AsyncSession], caller: Caller, **changes: object) -> str:
    async with sessions() as session:
        invite = await branches.create_invite(session, caller, NOW)
        if changes:
            await session.execute(update(Invite).where(Invite.id == invite.id).values(**changes))
            await session.commit()
        return invite.token


async def join(
    sessions: async_sessionmaker[AsyncSession], token: str, user_id: int, name: str, **options: object
) -> Caller:
    async with sessions() as session:
        return await branches.join_branch(
            session,
            token=token,
            telegram_user_id=user_id,
            name=name,
            status=options.get("status", MemberStatus.FULL),  # type: ignore[arg-type]
            party_group_id=options.get("party_group_id"),  # type: ignore[arg-type]
            roster_member_id=options.get("roster_member_id"),  # type: ignore[arg-type]
            now=NOW,
        )


async def second_branch(session: AsyncSession, telegram_user_id: int = 3) -> Caller:
    """第二党支部 in another group, its 书记 赵六."""
    return await branches.setup_branch(
        session,
        name="第二党支部",
        chat_id=OTHER_GROUP_ID,
        telegram_user_id=telegram_user_id,
        member_name="赵六",
        now=NOW,
    )


async def caller_of(sessions: async_sessionmaker[AsyncSession], user_id: int) -> Caller:
    async with sessions() as session:
        return await authorize(session, user_id, chat_id=user_id, private=True, action="test")


# --- setup ---------------------------------------------------------------------------------------------------------


async def test_setup_creates_branch_and_secretary(sessions: async_sessionmaker[AsyncSession], branch: Caller) -> None:
    assert branch.branch.name == "第一党支部" and branch.branch.chat_id == GROUP["id"]
    assert (branch.member.name, branch.member.role, branch.member.status) == ("李明", "书记", "正式党员")
    assert await audit_actions(sessions) == ["branch.setup"]


async def test_setup_refuses_a_bound_group_naming_its_branch(
    sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    async with sessions() as session:
        with pytest.raises(BranchError, match="本群已绑定「第一党支部」"):
            await branches.setup_branch(
                session, name="第二党支部", chat_id=GROUP["id"], telegram_user_id=BOB["id"], member_name="王芳", now=NOW
            )
    assert await count_rows(sessions, Branch) == 1 and await count_rows(sessions, Member) == 1


async def test_setup_refuses_someone_registered_elsewhere(
    sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    async with sessions() as session:
        with pytest.raises(BranchError, match="已经是「第一党支部」的登记党员"):
            await second_branch(session, telegram_user_id=ALICE["id"])
    assert await count_rows(sessions, Branch) == 1


async def test_setup_shortens_a_long_telegram_name(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        caller = await branches.setup_branch(
            session, name="  第二  党支部 ", chat_id=OTHER_GROUP_ID, telegram_user_id=9, member_name="长" * 30, now=NOW
        )
    assert caller.branch.name == "第二 党支部" and caller.member.name == "长" * 20


# --- invites and joining -------------------------------------------------------------------------------------------


async def test_invite_is_random_short_and_limited(sessions: async_sessionmaker[AsyncSession], branch: Caller) -> None:
    async with sessions() as session:
        first = await branches.create_invite(session, branch, NOW)
        second = await branches.create_invite(session, branch, NOW)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", first.token) and first.token != second.token
    assert len(f"join_{first.token}") <= 64
    assert first.expires_at == NOW + timedelta(days=7) and first.max_uses == 50
    assert await audit_actions(sessions) == ["branch.setup", "invite.create", "invite.create"]


async def test_join_registers_a_party_member_and_counts_the_use(
    sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    token = await new_invite(sessions, branch)
    async with sessions() as session:
        offer = await branches.open_invite(session, token, BOB["id"], NOW)
    assert (offer.branch_id, offer.branch_name, offer.groups) == (branch.branch.id, "第一党支部", ())
    joined = await join(sessions, token, BOB["id"], "王芳", status=MemberStatus.PROBATIONARY)
    assert (joined.member.name, joined.member.role, joined.member.status) == ("王芳", "党员", "预备党员")
    async with sessions() as session:
        assert await session.scalar(select(Invite.uses)) == 1
    assert (await audit_actions(sessions))[-1] == "member.join"


@pytest.mark.parametrize(
    "changes",
    [{"expires_at": NOW - timedelta(seconds=1)}, {"uses": 50}, {"token": "forged-token-000000000"}],
    ids=["expired", "used-up", "forged"],
)
async def test_invalid_invites_are_refused(
    sessions: async_sessionmaker[AsyncSession], branch: Caller, changes: dict[str, object]
) -> None:
    token = await new_invite(sessions, branch, **({"uses": 50} if "uses" in changes else {}))
    if "expires_at" in changes:
        await new_invite(sessions, branch)  # a valid one exists too; the expired one must still be refused
        async with sessions() as session:
            await session.execute(update(Invite).where(Invite.token_hash == hash_token(token)).values(**changes))
            await session.commit()
    if "token" in changes:
        token = str(changes["token"])
    async with sessions() as session:
        with pytest.raises(BranchError, match="邀请链接已失效"):
            await branches.open_invite(session, token, BOB["id"], NOW)
    with pytest.raises(BranchError, match="邀请链接已失效"):
        await join(sessions, token, BOB["id"], "王芳")
    assert await count_rows(sessions, Member) == 1


async def test_registered_person_is_told_where(sessions: async_sessionmaker[AsyncSession], branch: Caller) -> None:
    token = await new_invite(sessions, branch)
    async with sessions() as session:
        with pytest.raises(BranchError, match="「第一党支部」"):
            await branches.open_invite(session, token, ALICE["id"], NOW)
    with pytest.raises(BranchError):
        await join(sessions, token, ALICE["id"], "李明")
    async with sessions() as session:
        assert await session.scalar(select(Invite.uses)) == 0  # the refused join gave its use back


async def test_sixty_concurrent_joins_on_a_fifty_use_invite_register_exactly_fifty(
    sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    token = await new_invite(sessions, branch)
    outcomes = await asyncio.gather(
        *(join(sessions, token, 50_000 + n, f"党员{n}") for n in range(60)), return_exceptions=True
    )
    refused = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(refused) == 10 and all(isinstance(error, BranchError) for error in refused)
    assert await count_rows(sessions, Member) == 1 + 50
    async with sessions() as session:
        assert await session.scalar(select(Invite.uses)) == 50
    assert (await audit_actions(sessions)).count("member.join") == 50


async def test_join_links_the_roster_entry_instead_of_a_duplicate(
    sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    async with sessions() as session:
        group = PartyGroup(branch_id=branch.branch.id, name="第一党小组")
        session.add(group)
        await session.flush()
        imported = Member(branch_id=branch.branch.id, name="王芳", role="组织委员", party_group_id=group.id)
        session.add(imported)
        await session.commit()
    token = await new_invite(sessions, branch)
    async with sessions() as session:
        entry = await branches.find_roster_entry(session, branch.branch.id, "王芳")
    assert entry is not None and entry.id == imported.id
    joined = await join(sessions, token, BOB["id"], "王芳", roster_member_id=imported.id)
    assert joined.member.id == imported.id and joined.member.telegram_user_id == BOB["id"]
    assert joined.member.role == "党员"  # an office named in the roster is given by the 书记, not by typing a name
    assert joined.member.party_group_id == group.id  # the rest of what the roster said stays
    assert await count_rows(sessions, Member) == 2
    async with sessions() as session:
        assert await branches.find_roster_entry(session, branch.branch.id, "王芳") is None
    with pytest.raises(BranchError, match="已被他人认领"):  # a second person cannot take the same entry
        await join(sessions, token, 777, "王芳", roster_member_id=imported.id)


async def test_join_ignores_a_party_group_of_another_branch(
    sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    async with sessions() as session:
        other = await second_branch(session)
        foreign = await branches.add_group(session, other, "外支部小组", NOW)
    token = await new_invite(sessions, branch)
    joined = await join(sessions, token, BOB["id"], "王芳", party_group_id=foreign.id)
    assert joined.member.party_group_id is None


# --- roles ---------------------------------------------------------------------------------------------------------


async def test_set_role_and_transfer_of_the_secretary(
    sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    bob = (await join(sessions, await new_invite(sessions, branch), BOB["id"], "王芳")).member
    async with sessions() as session:
        member, previous = await branches.set_role(session, branch, bob.id, Role.ORGANIZATION, NOW)
    assert (member.role, previous) == ("组织委员", Role.MEMBER)
    async with sessions() as session:
        with pytest.raises(BranchError, match="已是组织委员"):
            await branches.set_role(session, branch, bob.id, Role.ORGANIZATION, NOW)
        with pytest.raises(BranchError, match="支部不能没有书记"):
            await branches.set_role(session, branch, branch.member.id, Role.MEMBER, NOW)
    async with sessions() as session:
        member, previous = await branches.set_role(session, branch, bob.id, Role.SECRETARY, NOW)
    assert (member.role, previous) == ("书记", Role.ORGANIZATION)
    async with sessions() as session:
        roles = dict((await session.execute(select(Member.name, Member.role))).all())
    assert roles == {"李明": "党员", "王芳": "书记"}
    assert (await audit_actions(sessions))[-2:] == ["member.setrole", "member.transfer_secretary"]


async def test_set_role_refuses_a_member_of_another_branch(
    sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    async with sessions() as session:
        other = await second_branch(session)
        with pytest.raises(BranchError, match="不在本支部"):
            await branches.set_role(session, branch, other.member.id, Role.MEMBER, NOW)


# --- 党小组 and the member list -------------------------------------------------------------------------------------


async def test_groups_and_the_member_list(sessions: async_sessionmaker[AsyncSession], branch: Caller) -> None:
    token = await new_invite(sessions, branch)
    bob = (await join(sessions, token, BOB["id"], "王芳")).member
    await join(sessions, token, 3, "张三", status=MemberStatus.PROBATIONARY)
    async with sessions() as session:
        await branches.add_group(session, branch, "第二党小组", NOW)
        await branches.add_group(session, branch, "第一党小组", NOW)
        with pytest.raises(BranchError, match="已有「第一党小组」"):
            await branches.add_group(session, branch, "第一党小组", NOW)
        with pytest.raises(BranchError, match="现有党小组：第二党小组、第一党小组"):
            await branches.assign_group(session, branch, bob.id, "第三党小组", NOW)
        await branches.assign_group(session, branch, bob.id, "第一党小组", NOW)
        await branches.assign_group(session, branch, branch.member.id, "第一党小组", NOW)
        listing = await branches.branch_roster(session, branch.branch.id)
    assert (listing.full, listing.probationary) == (2, 1)
    assert [(group.name, [m.name for m in group.members]) for group in listing.groups] == [
        ("第一党小组", ["李明", "王芳"]),  # 书记 first; groups in the order they were added, empty ones left out
        (None, ["张三"]),
    ]
    assert (await audit_actions(sessions))[-4:] == ["group.add", "group.add", "group.set", "group.set"]


# --- moving a member -----------------------------------------------------------------------------------------------


async def test_move_member_keeps_attendance_history(sessions: async_sessionmaker[AsyncSession], branch: Caller) -> None:
    bob = (await join(sessions, await new_invite(sessions, branch), BOB["id"], "王芳")).member
    async with sessions() as session:
        await branches.set_role(session, branch, bob.id, Role.ORGANIZATION, NOW)
        other = await second_branch(session)
        activity = Activity(branch_id=branch.branch.id, kind=ActivityKind.COMMITTEE_MEETING.value, starts_at=NOW)
        session.add(activity)
        await session.flush()
        session.add(
            Attendance(
                activity_id=activity.id,
                member_id=bob.id,
                status=AttendanceStatus.PRESENT.value,
                method=AttendanceMethod.BUTTON.value,
            )
        )
        await session.commit()
    async with sessions() as session:
        moved = await branches.move_member(session, bob.id, other.branch.id, NOW, None)
    assert (moved.branch_id, moved.role, moved.party_group_id) == (other.branch.id, "党员", None)
    async with sessions() as session:
        history = (await session.execute(select(Attendance.member_id, Attendance.activity_id))).all()
        entry = await session.scalar(select(AuditLog).where(AuditLog.action == "member.move"))
    assert history == [(bob.id, activity.id)]
    assert entry is not None and entry.branch_id == branch.branch.id
    assert json.loads(entry.detail)["to_branch"] == other.branch.id
    assert (await caller_of(sessions, BOB["id"])).branch.name == "第二党支部"


async def test_move_member_refusals(sessions: async_sessionmaker[AsyncSession], branch: Caller) -> None:
    async with sessions() as session:
        other = await second_branch(session)
    cases = [
        (branch.member.id, other.branch.id, "先把书记移交"),
        (other.member.id, other.branch.id, "无需转移"),
        (999, other.branch.id, "没有编号为 999 的党员"),
        (branch.member.id, 999, "没有编号为 999 的支部"),
    ]
    for member_id, branch_id, refusal in cases:
        async with sessions() as session:
            with pytest.raises(BranchError, match=refusal):
                await branches.move_member(session, member_id, branch_id, NOW, branch)
    assert "member.move" not in await audit_actions(sessions)
