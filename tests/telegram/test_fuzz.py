"""A seeded fuzz test: 10,000 hostile updates through the real Application, checked after every single one.

Two branches, each bound to its group, with officers and ordinary members; two strangers and one removed member
send along. The updates carry random and forged callback data (the bot's own prefixes with real, overlong,
non-ASCII and foreign ids, and real buttons pressed by the wrong people), overlong text, control characters, bidi
overrides and markup, commands with junk arguments, the wrong chat types (private, supergroup, basic group,
channel posts), and files of every kind (documents of every accepted type with random bytes, photos, stickers,
voice notes). The updates are fed one at a time through ``Application.process_update``, so each change to the
database is attributed to the one update, and the one sender, that made it. The flood guard runs on a clock that
moves 0.3 s per update: most updates get through, the random bursts are refused (and their buttons answered).
The tables are read again after every update that committed a transaction (an SQLAlchemy ``commit`` event on
any engine), and every 250 updates regardless; a difference found without a commit is itself a failure.

Measured after each update:

1. No unhandled exception: the Application's error handlers are never reached, and nothing is logged at ERROR.
2. No change the sender may not make: the tables below are compared row by row before and after. A change is
   allowed only as follows (the sender as they were *before* the update; "own branch" means every version of the
   row, before and after, belongs to the sender's branch):

   ====================================  ================================================================
   sender                                may change
   ====================================  ================================================================
   stranger, removed (inactive) member,  nothing at all
   channel post (no sender)
   any active member                     their own attendance rows at their own branch's activities;
                                         their own reminders: cancelled, or snoozed (a new row to them);
                                         ``reminders_enabled`` and ``reachable`` of their own member row;
                                         audit rows naming themselves as the actor (insert only)
   + 党小组长, 副书记, 组织委员, 书记        activities (with their kinds and 应到 roster), anyone's attendance
     (activity managers)                 and 补学 tasks at their own branch's activities, its reminders
   + 组织委员, 副书记, 书记 (organizers)   their own branch's invites
   + 组织委员, 书记                        their own branch's documents, 党小组 (and members' 党小组),
                                         the 主题党日 rule of their branch
   + 书记                                 members of their own branch (role, active, claim codes, imports),
                                         local requirement minimums
   ====================================  ================================================================

   Nobody ever changes a row of the other branch, a branch's name or group, or an existing audit row.
3. Every callback query is answered: one successful ``answerCallbackQuery`` per callback update.

Failed Bot API calls (a reply Telegram would refuse: bad HTML, more than 4,096 characters) are counted and must
be none, even where a handler swallows the error. ``PARTYBOT_FUZZ_UPDATES`` and ``PARTYBOT_FUZZ_SEED`` change the
size and the seed of a run.
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, Table, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import SQLModel
from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.app import build_application, serving
from bot.bot_api_objects import group_chat, make_user
from bot.config import Settings
from bot.models import (
    ORGANIZER_ROLES,
    Activity,
    ActivityKind,
    ActivityKindLink,
    ActivityRoster,
    ActivityStatus,
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    AuditLog,
    Branch,
    Document,
    Invite,
    MakeupTask,
    Member,
    PartyGroup,
    Reminder,
    ReminderStatus,
    RequirementOverride,
    Role,
)
from bot.services.branch_setup import hash_token
from bot.services.reminders import PAYLOAD_SNOOZE, SNOOZE_KEY_PREFIX, ReminderKind
from bot.transport import BotApiSimulator, InProcessBotApi
from handlers import qa
from handlers.keyboards import Action
from handlers.throttle import FloodGuard
from knowledge.answer import Answerer
from knowledge.passage import Passage

logger = logging.getLogger(__name__)

SEED = int(os.environ.get("PARTYBOT_FUZZ_SEED", "20261201"))
UPDATES = int(os.environ.get("PARTYBOT_FUZZ_UPDATES", "10000"))
# PostgreSQL runs the same generator for a quarter of the count: the permission logic is the same on both, and CI
# time is bounded (the full 10,000 run on SQLite)
POSTGRESQL_SHARE = 4
CHECK_EVERY = 250  # updates between full comparisons when nothing was committed
# the kinds of update sent, with their weights
KINDS = {
    "text": 22,
    "command": 32,
    "callback": 28,
    "document": 7,
    "photo": 3,
    "sticker": 3,
    "voice": 3,
    "channel_post": 2,
}

# --- the world -------------------------------------------------------------------------------------------------------

GROUP_A = group_chat(-1001000000001, "第一党支部")
GROUP_B = group_chat(-1001000000002, "第二党支部")
FOREIGN_GROUP = group_chat(-1001000000003, "闲聊群")  # bound to no branch
BASIC_GROUP = {"id": -4000000001, "type": "group", "title": "临时小群"}  # a basic group, bound to no branch
CHANNEL = {"id": -1001000000009, "type": "channel", "title": "通知频道"}


@dataclass(frozen=True, slots=True)
class Person:
    user: dict[str, Any]
    name: str
    branch: str | None  # "A", "B", or None for a stranger
    role: Role | None
    active: bool = True
    party_group: str | None = None


PEOPLE = [
    Person(make_user(2001, "李明"), "李明", "A", Role.SECRETARY),
    Person(make_user(2002, "赵强", "zhaoqiang"), "赵强", "A", Role.ORGANIZATION),
    Person(make_user(2003, "钱进"), "钱进", "A", Role.GROUP_LEADER, party_group="第一党小组"),
    Person(make_user(2004, "王芳"), "王芳", "A", Role.MEMBER, party_group="第一党小组"),
    Person(make_user(2005, "刘洋"), "刘洋", "A", Role.MEMBER, party_group="第二党小组"),
    Person(make_user(2006, "陈红"), "陈红", "A", Role.MEMBER, active=False),  # removed by /remove earlier
    Person(make_user(3001, "周红"), "周红", "B", Role.SECRETARY),
    Person(make_user(3002, "吴刚"), "吴刚", "B", Role.DEPUTY_SECRETARY),
    Person(make_user(3003, "郑爽"), "郑爽", "B", Role.MEMBER),
    Person(make_user(4001, "路人甲"), "路人甲", None, None),
    Person(make_user(4002, "\u202e甲人路", "evil_user"), "", None, None),
]
UNLINKED = [("孙丽", "A", Role.DEPUTY_SECRETARY), ("冯军", "B", Role.MEMBER)]  # imported, not on Telegram yet
GROUPS = {"A": GROUP_A, "B": GROUP_B}
NAMES = [p.name for p in PEOPLE if p.name] + [name for name, _, _ in UNLINKED] + ["张三", "李 明", "ＬＩ"]
INVITE_TOKENS = {"A": "fuzz-invite-token-a-0123456789", "B": "fuzz-invite-token-b-0123456789"}
PASSAGES = [
    Passage("zhiwei-fuzz", "测试制度", ("支委会：多久开一次",), "支委会一般每月召开一次。",
            phrasings=("支委会多久开一次",)),
    Passage("markup-fuzz", "<b>标题</b> & 引号", ("<i>章节</i>",), "正文 <script>&amp;</script>", phrasings=("特殊",)),
]  # fmt: skip


@dataclass(slots=True)
class World:
    branch_ids: dict[str, int]
    member_ids: dict[int, int]  # telegram user id -> member id
    activity_ids: list[int] = field(default_factory=list)
    document_ids: list[int] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)
    reminder_ids: list[int] = field(default_factory=list)


async def build_world(sessions: async_sessionmaker[AsyncSession]) -> World:
    """Both branches with their 党小组, people, invites, overrides, documents, and activities: one starting in 20
    minutes (check-in open), one held last month with everyone's attendance, one cancelled; and the reminders still
    to come of the planned ones (each member's, with a 稍后提醒 button, and the branch's deadline notice)."""
    now = datetime.now(UTC)
    async with sessions() as session:
        branches = {key: Branch(name=chat["title"], chat_id=chat["id"]) for key, chat in GROUPS.items()}
        session.add_all(branches.values())
        await session.flush()
        branch_ids = {key: b.id for key, b in branches.items() if b.id is not None}
        groups = {
            (key, name): PartyGroup(branch_id=branch_ids[key], name=name)
            for key in GROUPS
            for name in ("第一党小组", "第二党小组")
        }
        session.add_all(groups.values())
        await session.flush()
        members: list[Member] = []
        for person in PEOPLE:
            if person.branch is None:
                continue
            group = groups[(person.branch, person.party_group)] if person.party_group else None
            members.append(
                Member(
                    branch_id=branch_ids[person.branch],
                    telegram_user_id=person.user["id"],
                    name=person.name,
                    role=(person.role or Role.MEMBER).value,
                    party_group_id=group.id if group else None,
                    active=person.active,
                    left_at=None if person.active else now - timedelta(days=3),
                )
            )
        members += [Member(branch_id=branch_ids[key], name=name, role=role.value) for name, key, role in UNLINKED]
        session.add_all(members)
        await session.flush()
        by_branch = {key: [m for m in members if m.branch_id == branch_ids[key]] for key in GROUPS}
        secretaries = {key: next(m for m in by_branch[key] if m.role == Role.SECRETARY) for key in GROUPS}
        for key, token in INVITE_TOKENS.items():
            session.add(
                Invite(
                    token_hash=hash_token(token),
                    branch_id=branch_ids[key],
                    created_by=secretaries[key].id,
                    expires_at=now + timedelta(days=7),
                )
            )
            session.add(RequirementOverride(branch_id=branch_ids[key], requirement_key="committee", minimum=2))
            for title in (f"{key}支部学习安排", f"{key}支部内部通知"):
                session.add(Document(title=title, filename=f"{title}.md", scope_branch_id=branch_ids[key]))
        activities: list[Activity] = []
        for key in GROUPS:
            for status, starts in (
                (ActivityStatus.PLANNED, now + timedelta(minutes=20)),
                (ActivityStatus.HELD, now - timedelta(days=30)),
                (ActivityStatus.CANCELLED, now + timedelta(days=2)),
                (ActivityStatus.PLANNED, now + timedelta(days=5)),
            ):
                activity = Activity(
                    branch_id=branch_ids[key],
                    kind=ActivityKind.COMMITTEE_MEETING.value,
                    topic=f"{key}支部学习",
                    starts_at=starts,
                    place="会议室",
                    status=status.value,
                    checkin_code="1234",
                    minutes="会议记录" if status is ActivityStatus.HELD else None,
                )
                activities.append(activity)
        session.add_all(activities)
        await session.flush()
        for activity in activities:
            session.add(ActivityKindLink(activity_id=activity.id, kind=activity.kind))
            if activity.status != ActivityStatus.HELD:
                continue
            for member in (m for m in members if m.branch_id == activity.branch_id):
                state = AttendanceStatus.LEAVE if member.role == Role.MEMBER else AttendanceStatus.PRESENT
                session.add(
                    Attendance(
                        activity_id=activity.id,
                        member_id=member.id,
                        status=state.value,
                        method=AttendanceMethod.BUTTON.value,
                        leave_reason="出差" if state is AttendanceStatus.LEAVE else None,
                        leave_note="外地\u202e培训" if state is AttendanceStatus.LEAVE else None,
                    )
                )
        for activity in activities:
            if activity.status != ActivityStatus.PLANNED:
                continue
            for member in (m for m in members if m.branch_id == activity.branch_id and m.telegram_user_id):
                session.add(
                    Reminder(
                        branch_id=activity.branch_id,
                        kind=ReminderKind.ACTIVITY_HOUR_BEFORE.value,
                        dedup_key=f"fuzz:{activity.id}:{member.id}",
                        chat_id=member.telegram_user_id,
                        member_id=member.id,
                        activity_id=activity.id,
                        due_at=activity.starts_at - timedelta(hours=1),
                        expires_at=activity.starts_at,
                        text="一小时后开会",
                        payload=json.dumps({PAYLOAD_SNOOZE: True}),
                    )
                )
        for key, chat in GROUPS.items():
            session.add(
                Reminder(
                    branch_id=branch_ids[key],
                    kind=ReminderKind.DEADLINE.value,
                    dedup_key=f"fuzz:deadline:{key}",
                    chat_id=chat["id"],
                    due_at=now + timedelta(days=2),
                    text="本月要求尚未完成",
                )
            )
        await session.commit()
        documents = (await session.scalars(select(Document.id))).all()
        reminders = (await session.scalars(select(Reminder.id))).all()
        return World(
            branch_ids=branch_ids,
            member_ids={m.telegram_user_id: m.id for m in members if m.telegram_user_id and m.id},
            activity_ids=[a.id for a in activities if a.id is not None],
            document_ids=[d for d in documents if d is not None],
            group_ids=[g.id for g in groups.values() if g.id is not None],
            reminder_ids=[r for r in reminders if r is not None],
        )


# --- what each sender may change -----------------------------------------------------------------------------------

# Every table a sender could harm; rows are keyed by primary key, every column compared.
WATCHED: tuple[type[SQLModel], ...] = (
    Branch, PartyGroup, Member, Invite, Activity, ActivityKindLink, ActivityRoster, Attendance, MakeupTask,
    Document, RequirementOverride, AuditLog, Reminder,
)  # fmt: skip
MANAGERS = ORGANIZER_ROLES | {Role.GROUP_LEADER}
OFFICE_HOLDERS = frozenset({Role.SECRETARY, Role.ORGANIZATION})  # /kb, /group, /themeday
OWN_MEMBER_COLUMNS = frozenset({"reminders_enabled", "reachable"})

Row = dict[str, Any]
Snapshot = dict[str, dict[tuple[Any, ...], Row]]


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,return-value]


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> Snapshot:
    """Every watched row, keyed by table and primary key: one connection, plain driver-level SELECTs (10,000 of
    these snapshots are taken, so they must be cheap)."""
    engine: AsyncEngine = sessions.kw["bind"]
    async with engine.connect() as connection:
        return await connection.run_sync(_read_tables)


def _read_tables(connection: Connection) -> Snapshot:
    tables: Snapshot = {}
    for model in WATCHED:
        table = _table(model)
        columns = [column.name for column in table.columns]
        key = [columns.index(column.name) for column in table.primary_key.columns]
        result = connection.exec_driver_sql(f"SELECT {', '.join(columns)} FROM {table.name}")
        tables[table.name] = {
            tuple(row[i] for i in key): dict(zip(columns, row, strict=True)) for row in result.fetchall()
        }
    return tables


@dataclass(frozen=True, slots=True)
class Change:
    table: str
    before: Row | None
    after: Row | None

    @property
    def changed_columns(self) -> set[str]:
        if self.before is None or self.after is None:
            return set((self.before or self.after or {}).keys())
        return {name for name, value in self.after.items() if self.before.get(name) != value}

    def values(self, column: str) -> set[Any]:
        return {row[column] for row in (self.before, self.after) if row is not None}


def changes(before: Snapshot, after: Snapshot) -> list[Change]:
    found: list[Change] = []
    for table, old_rows in before.items():
        new_rows = after[table]
        for key in old_rows.keys() | new_rows.keys():
            old, new = old_rows.get(key), new_rows.get(key)
            if old != new:
                found.append(Change(table, old, new))
    return found


def branches_of(change: Change, before: Snapshot, after: Snapshot) -> set[Any]:
    """The branch ids every version of the changed row belongs to."""
    if change.table == "branch":
        return change.values("id")
    if change.table == "document":
        return change.values("scope_branch_id")
    if "branch_id" in (change.before or change.after or {}):
        return change.values("branch_id")
    activities = {**before["activity"], **after["activity"]}  # attendance, kinds, roster, 补学: their activity's
    return {activities[(activity_id,)]["branch_id"] for activity_id in change.values("activity_id")}


def permitted(change: Change, sender: Row | None, before: Snapshot, after: Snapshot) -> bool:
    """Whether ``sender`` (their member row before the update; None for strangers) may make ``change``."""
    if sender is None or not sender["active"]:
        return False
    role, member_id = Role(sender["role"]), sender["id"]
    if change.table == "audit_log":  # append-only, and only about oneself
        return change.before is None and change.values("actor_member_id") == {member_id}
    if branches_of(change, before, after) != {sender["branch_id"]}:
        return False
    columns = change.changed_columns
    match change.table:
        case "branch":
            return columns == {"theme_day_rule"} and role in OFFICE_HOLDERS
        case "party_group":
            return role in OFFICE_HOLDERS
        case "member":
            if change.values("id") == {member_id} and columns <= OWN_MEMBER_COLUMNS:
                return True
            if change.before is not None and columns <= {"party_group_id"}:
                return role in OFFICE_HOLDERS
            return role is Role.SECRETARY
        case "invite":
            return role in ORGANIZER_ROLES
        case "attendance":
            return change.values("member_id") == {member_id} or role in MANAGERS
        case "activity" | "activity_kind" | "activity_roster" | "makeup_task":
            return role in MANAGERS
        case "document":
            return role in OFFICE_HOLDERS
        case "requirement_override":
            return role is Role.SECRETARY
        case "reminder":
            return _reminder_change_permitted(change, role, member_id)
    return False


def _reminder_change_permitted(change: Change, role: Role, member_id: Any) -> bool:
    """A member's own reminders: cancelled (their check-in, leave or /remind off) or snoozed (a new ``sz:`` row
    sent to them alone). Activity managers: any reminder of their branch (attendance they record for others)."""
    if change.before is None:
        row = change.after or {}
        return row["member_id"] == member_id and row["dedup_key"].startswith(SNOOZE_KEY_PREFIX)
    if change.after is None:
        return False  # reminder rows are never deleted by an update
    if change.values("member_id") == {member_id} and change.changed_columns <= {"status"}:
        return change.after["status"] == ReminderStatus.CANCELLED.value
    return role in MANAGERS


def sender_class(sender: Row | None) -> str:
    if sender is None:
        return "stranger"
    if not sender["active"]:
        return "removed member"
    return "officer" if Role(sender["role"]) in MANAGERS else "member"


# --- hostile material ----------------------------------------------------------------------------------------------

BOT_USERNAME = "partybot_local_bot"
CONTROL = [chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), 127, 0x85)]
FORMAT = ["\u202e", "\u202d", "\u202a", "\u202b", "\u202c", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e",
          "\u200f", "\u061c", "\u200b", "\u200d", "\ufeff", "\u00ad", "\u2028", "\u2029"]  # fmt: skip
MARKUP = ["<b>", "</b>", "<i>x</i>", "<a href='javascript:alert(1)'>链接</a>", "<script>alert(1)</script>", "&",
          "&amp;", "&lt;", "&#0;", "<", ">", "*粗体*", "_斜体_", "[链接](tg://user?id=1)", "`代码`", "```\n块\n```",
          "||剧透||", "<tg-spoiler>", "<pre><code class='x'>", '"', "'", "\\"]  # fmt: skip
WORDS = ["支委会", "党员大会", "党小组会", "党课", "主题党日", "组织生活会", "明天", "今天15:00", "下周三 9:30",
         "2026-13-45", "25:61", "会议室", "学习", "出差", "生病", "其他", "请假", "签到", "是", "否", "取消", "确认",
         "revoke", "remove", "on", "off", "all", "全部", "每月15日", "每月第一个周五", "day:15",
         "weekday:1:4"]  # fmt: skip
ODD_NUMBERS = ["0", "-1", "1", "2", "²", "١٢", "１２", "12345678901234567890", "999999999", "1000000000", "1e9",
               "NaN", "0x10", "+7", "٣", "𝟗", "1.5", " 1", "1 ", "00000000001"]  # fmt: skip
COMMANDS = ["new", "done", "cancel", "checkin", "leave", "proxy", "setrole", "remove", "restore", "invite", "kb",
            "import", "export", "attendance", "progress", "require", "themeday", "remind", "reminders", "record",
            "move", "activities", "members", "group", "code", "claimcode", "setup", "start", "help", "ask",
            "nosuchcommand", "START", "Kb"]  # fmt: skip
FILE_NAMES = ["名单.xlsx", "roster.csv", "制度.docx", "通知.pdf", "说明.txt", "规定.md", "x.XLSX", "..docx",
              "../../etc/passwd.txt", "a\u202etxt.exe", "无扩展名", "", "book.xls", "deck.pptx",
              "很长" * 120 + ".txt"]  # fmt: skip
REASONS = ["学习", "出差", "生病", "其他", "休假", "", "学习.学习"]


class Fuzzer:
    """Builds the hostile updates from one seeded random generator; knows the real ids to forge with."""

    def __init__(self, rng: random.Random, api: BotApiSimulator, world: World) -> None:
        self.rng = rng
        self.api = api
        self.world = world
        self.bot_messages: dict[int, list[dict[str, Any]]] = {}  # chat id -> the bot's recent messages there
        self.real_buttons: list[str] = []  # callback data the bot really put under its messages

    # -- the bot's side, for pressing its buttons ---------------------------------------------------------------

    def saw(self, calls: Iterable[Any]) -> None:
        for call in calls:
            if call.ok and call.method in ("sendMessage", "editMessageText") and isinstance(call.result, dict):
                message = call.result
                kept = self.bot_messages.setdefault(message["chat"]["id"], [])
                kept.append(message)
                del kept[:-20]
                markup = message.get("reply_markup") or {}
                for row in markup.get("inline_keyboard", []):
                    self.real_buttons += [b["callback_data"] for b in row if "callback_data" in b]
                del self.real_buttons[:-200]

    # -- pieces -------------------------------------------------------------------------------------------------

    def number(self) -> str:
        rng = self.rng
        pick = rng.random()
        if pick < 0.45:
            pool = [*self.world.activity_ids, *self.world.member_ids.values(), *self.world.document_ids]
            return str(rng.choice(pool + self.world.group_ids))
        if pick < 0.8:
            return rng.choice(ODD_NUMBERS)
        return str(rng.randint(-(10**20), 10**20))

    def junk(self, size: int | None = None) -> str:
        rng = self.rng
        size = size if size is not None else rng.choice((0, 1, 3, 8, 20, 60, 200))
        parts: list[str] = []
        for _ in range(size):
            pick = rng.random()
            if pick < 0.25:
                parts.append(rng.choice(WORDS))
            elif pick < 0.38:
                parts.append(rng.choice(NAMES))
            elif pick < 0.5:
                parts.append(rng.choice(MARKUP))
            elif pick < 0.6:
                parts.append(rng.choice(CONTROL))
            elif pick < 0.7:
                parts.append(rng.choice(FORMAT))
            elif pick < 0.8:
                parts.append(self.number())
            elif pick < 0.9:
                parts.append(chr(rng.randint(0x4E00, 0x9FFF)) * rng.randint(1, 4))
            elif pick < 0.95:
                parts.append(chr(rng.choice((rng.randint(0x20, 0x7E), rng.randint(0x1F300, 0x1FAFF)))))
            else:
                parts.append(f"@{BOT_USERNAME}")
            parts.append(rng.choice((" ", "", "\n", "\t", "　")))
        return "".join(parts)

    def text(self) -> str:
        rng = self.rng
        pick = rng.random()
        if pick < 0.08:  # overlong: past Telegram's 4,096
            return (self.junk(30) or "长") * 1 + "党" * rng.randint(4097, 9000)
        if pick < 0.15:
            return rng.choice(["", " ", "\n", "\u202e", "\x00"]) or "\u200b"
        text = self.junk()
        if rng.random() < 0.25:
            text = f"@{BOT_USERNAME} {text}"
        return text or "？"

    def plausible_command(self) -> str:
        """A well-formed command with real names and ids: what an insider would try."""
        rng = self.rng
        activity, name, role = rng.choice(self.world.activity_ids), rng.choice(NAMES), rng.choice(list(Role)).value
        return rng.choice(
            [
                "/checkin", f"/checkin {activity}", f"/checkin {rng.choice(['1234', '0000', '12345'])}",
                f"/leave {activity} {rng.choice(REASONS)} {self.junk(3)}", f"/leave {rng.choice(REASONS)}",
                f"/proxy {activity} {name}", f"/proxy {activity} {name} {rng.choice(REASONS)} {self.junk(2)}",
                f"/setrole {name} {role}", f"/remove {name}", f"/restore {name}", f"/claimcode {name}",
                f"/cancel {activity}", f"/done {activity} {self.junk(8)}", f"/done {activity}",
                f"/move {activity} 明天 15:00", f"/new 支委会 明天 15:00 {self.junk(2)}",
                f"/record 党课 昨天 9:00 {self.junk(2)}", f"/require 支委会 {rng.randint(0, 15)}",
                f"/themeday {rng.choice(WORDS[-4:])}", f"/remind {rng.choice(['on', 'off'])}", "/invite",
                "/invite revoke", f"/kb remove {rng.choice(self.world.document_ids)}", f"/group {name} 第一党小组",
                f"/group add {self.junk(1)}", f"/code {activity}", f"/attendance {activity}", "/export",
                "/progress", "/members", "/activities", "/reminders", "/kb", "/import", "/new",
            ]
        )  # fmt: skip

    def command(self) -> str:
        rng = self.rng
        if rng.random() < 0.4:
            return self.plausible_command()
        name = rng.choice(COMMANDS)
        suffix = rng.choice(["", "", "", f"@{BOT_USERNAME}", "@other_bot", f"@{BOT_USERNAME.upper()}"])
        if name == "start" and rng.random() < 0.6:
            prefix = rng.choice(["join_", "claim_", "", "join", "claim_join_"])
            payload = rng.choice([self.junk(2).replace(" ", ""), "x" * 300, "fuzz-invite-token-a-012345678", "²"])
            return f"/start{suffix} {prefix}{payload}"
        args = [self.junk(rng.randint(0, 2)) for _ in range(rng.choice((0, 1, 1, 2, 3, 5)))]
        if rng.random() < 0.5:
            args = [rng.choice(NAMES), rng.choice([r.value for r in Role] + WORDS + REASONS), self.number()][
                : rng.randint(1, 3)
            ]
            rng.shuffle(args)
        if rng.random() < 0.05:
            args.append("参数" * rng.randint(2100, 3000))
        return " ".join([f"/{name}{suffix}", *args])

    def callback_data(self) -> str | None:
        rng = self.rng
        pick = rng.random()
        if pick < 0.25 and self.real_buttons:
            return rng.choice(self.real_buttons)  # a real button, pressed by whoever this is
        if pick < 0.3:
            return None  # a game button: no data at all
        if pick < 0.4:
            return self.junk(rng.randint(1, 5)) or "x"
        action = rng.choice([*list(Action), "xx", "", "CI", "ci ", "rel"])
        activity = str(rng.choice(self.world.activity_ids)) if rng.random() < 0.5 else self.number()
        reminder = str(rng.choice(self.world.reminder_ids)) if self.world.reminder_ids else self.number()
        argument = rng.choice(
            [
                activity,
                reminder,
                f"{activity}.{rng.choice(REASONS)}",
                f"p.{self.number()}.{rng.choice([r.value for r in Role] + ['管理员', ''])}",
                f"t.{self.number()}",
                "x",
                f"{rng.choice('kadgcly')}.{self.number()}",
                f"{rng.choice('lsgc')}.{rng.choice('ynfp')}",
                "zhiwei-fuzz",
                "markup-fuzz",
                self.junk(2),
                "9" * rng.randint(10, 80),
                "党" * rng.randint(1, 40),
                "",
            ]
        )
        separator = rng.choice([":", ":", ":", "", "::", "："])
        return f"{action}{separator}{argument}"

    def document(self) -> tuple[bytes, str, str | None]:
        rng = self.rng
        name = rng.choice(FILE_NAMES)
        size = rng.choice((0, 1, 64, 1024, 20_000))
        pick = rng.random()
        if pick < 0.5:
            content = rng.randbytes(size)
        elif pick < 0.7:  # a zip with junk members: what .docx and .xlsx are made of
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # duplicate member names: hostile on purpose
                for index in range(rng.randint(0, 3)):
                    member = rng.choice(["[Content_Types].xml", "word/document.xml", "xl/workbook.xml", f"f{index}"])
                    archive.writestr(member, rng.randbytes(rng.randint(0, 200)) + self.junk(5).encode())
            content = buffer.getvalue()
        else:  # text that parses: a roster, a document
            lines = [
                "姓名,身份,党小组,职务",
                *(f"{self.junk(2)},{rng.choice(WORDS)},{self.junk(1)},书记" for _ in range(3)),
            ]
            content = "\n".join([*lines, self.junk(40)]).encode(rng.choice(["utf-8", "gb18030", "utf-16"]), "replace")
        caption = rng.choice([None, None, "/kb", "/import", "/kb " + self.junk(3), self.junk(5), "/kb@other_bot"])
        return content, name, caption


# --- running it ----------------------------------------------------------------------------------------------------


class VirtualClock:
    """The flood guard's clock: it moves on by ``step`` seconds at every update, so the rate limits let most of the
    fuzz through (people pause between messages) and still refuse the bursts the random choice of senders makes."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += self.step


@dataclass(slots=True)
class Findings:
    kinds: Counter[str] = field(default_factory=Counter)
    senders: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    allowed_changes: Counter[str] = field(default_factory=Counter)
    unanswered: list[str] = field(default_factory=list)
    failed_calls: Counter[str] = field(default_factory=Counter)
    failed_examples: list[str] = field(default_factory=list)
    rate_limited: int = 0
    snapshot_seconds: float = 0.0
    snapshots: int = 0


def _channel_post(api: BotApiSimulator, text: str) -> dict[str, Any]:
    update = api.user_message(text, user=make_user(777, "频道"), chat=CHANNEL)
    post = update.pop("message")
    post.pop("from", None)
    post["sender_chat"] = CHANNEL
    update["channel_post"] = post
    return update


def _media(kind: str, rng: random.Random) -> dict[str, Any]:
    file = {"file_id": f"fz{rng.getrandbits(40)}", "file_unique_id": f"u{rng.getrandbits(40)}"}
    if kind == "photo":
        return {"photo": [{**file, "width": 90, "height": 90, "file_size": 1000}]}
    if kind == "sticker":
        return {"sticker": {**file, "width": 512, "height": 512, "is_animated": False, "is_video": False,
                            "type": "regular", "emoji": "👍"}}  # fmt: skip
    return {"voice": {**file, "duration": rng.randint(0, 600), "mime_type": "audio/ogg"}}


class CommitCounter:
    """Counts the transactions committed on any engine (the Application's included) while it is installed."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, connection: Connection) -> None:
        self.count += 1

    def __enter__(self) -> CommitCounter:
        event.listen(Engine, "commit", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "commit", self)


async def run_fuzz(
    app: Application,
    api: BotApiSimulator,
    sessions: async_sessionmaker[AsyncSession],
    world: World,
    commits: CommitCounter,
    guard: FloodGuard,
    clock: VirtualClock,
    *,
    count: int,
    seed: int,
) -> Findings:
    rng = random.Random(seed)
    fuzzer = Fuzzer(rng, api, world)
    findings = Findings()
    reached: list[BaseException | None] = []

    async def count_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        reached.append(context.error)

    app.add_error_handler(count_error)
    # Every chat has a bot message in it, for buttons to be pressed under.
    for chat in (GROUP_A, GROUP_B, FOREIGN_GROUP, BASIC_GROUP):
        fuzzer.saw(await _process(app, api, api.user_message("/help", user=PEOPLE[-1].user, chat=chat)))
    for person in PEOPLE:
        fuzzer.saw(await _process(app, api, api.user_message("/help", user=person.user)))
    before = await snapshot(sessions)
    commits_seen = commits.count
    for index in range(count):
        person = rng.choice(PEOPLE)
        user = person.user
        own = GROUPS.get(person.branch or "", rng.choice([GROUP_A, GROUP_B]))
        chat = rng.choices([None, own, GROUP_B if own is GROUP_A else GROUP_A, FOREIGN_GROUP, BASIC_GROUP],
                           [45, 22, 15, 10, 8])[0]  # fmt: skip
        kind = rng.choices(list(KINDS), list(KINDS.values()))[0]
        if kind == "text":
            update = api.user_message(fuzzer.text(), user=user, chat=chat)
        elif kind == "command":
            update = api.user_message(fuzzer.command(), user=user, chat=chat)
        elif kind == "callback":
            chat_id = (chat or {"id": user["id"]})["id"]
            target = rng.choice(fuzzer.bot_messages.get(chat_id) or fuzzer.bot_messages[GROUP_A["id"]])
            data = fuzzer.callback_data()
            update = api.button_press(target["chat"]["id"], target["message_id"], data or "x", user=user)
            if data is None:
                update["callback_query"].pop("data")
                update["callback_query"]["game_short_name"] = "fuzz"
        elif kind == "document":
            content, name, caption = fuzzer.document()
            update = api.user_document(content, name, user=user, chat=chat, caption=caption)
        elif kind == "channel_post":
            update = _channel_post(api, fuzzer.command() if rng.random() < 0.5 else fuzzer.text())
        else:
            update = api.chat_event(_media(kind, rng), user=user, chat=chat or {**_private(user)})
            if rng.random() < 0.5:
                update["message"]["caption"] = rng.choice(["/kb", "/import", fuzzer.junk(4)])
        findings.kinds[kind] += 1
        sender = next((row for row in before["member"].values() if row["telegram_user_id"] == user["id"]), None)
        if kind == "channel_post":
            sender = None
        findings.senders[sender_class(sender)] += 1

        clock.tick()
        errors_before = len(reached)
        calls = await _process(app, api, update)
        fuzzer.saw(calls)
        # A transaction that did not commit changed nothing: the tables are read again only after a commit, and
        # every CHECK_EVERY updates anyway, where any difference without a commit is itself a finding.
        committed = commits.count != commits_seen
        if committed or index % CHECK_EVERY == 0:
            commits_seen = commits.count
            taken = time.monotonic()
            after = await snapshot(sessions)
            findings.snapshot_seconds += time.monotonic() - taken
            findings.snapshots += 1
        else:
            after = before
        label = f"#{index} {kind} from {person.name or user['id']} ({sender_class(sender)})"
        if len(reached) > errors_before:
            shown = json.dumps(update, ensure_ascii=False)[:300]
            findings.errors += [f"{label}: {error!r} — update {shown}" for error in reached[errors_before:]]
        for change in changes(before, after):
            if committed and permitted(change, sender, before, after):
                findings.allowed_changes[change.table] += 1
            else:
                findings.violations.append(f"{label}: {change} — update {json.dumps(update, ensure_ascii=False)[:400]}")
        if kind == "callback":
            query_id = update["callback_query"]["id"]
            answered = [c for c in calls if c.method == "answerCallbackQuery" and c.ok]
            if not any(c.params.get("callback_query_id") == query_id for c in answered):
                findings.unanswered.append(f"{label}: data {update['callback_query'].get('data')!r}")
        for call in calls:
            if not call.ok:
                findings.failed_calls[call.method] += 1
                if len(findings.failed_examples) < 20:
                    findings.failed_examples.append(f"{label}: {call.method} {call.status} {str(call.params)[:200]}")
        before = after
    findings.rate_limited = guard.refused
    return findings


def _private(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


async def _process(app: Application, api: BotApiSimulator, update: dict[str, Any]) -> list[Any]:
    """Handle one update; return every Bot API call it made (failed ones too)."""
    start = len(api.calls)
    await app.process_update(Update.de_json(update, app.bot))
    api.take_outgoing()
    return api.calls[start:]


async def test_hostile_updates_change_nothing_they_may_not(
    database_url: str, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    world = await build_world(sessions)
    count = UPDATES if database_url.startswith("sqlite") else UPDATES // POSTGRESQL_SHARE
    api = BotApiSimulator()
    settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url)  # type: ignore[call-arg]
    clock = VirtualClock(step=0.3)
    guard = FloodGuard(qa.ADDRESSED_TO_BOT, clock=clock)
    app = build_application(settings, request=InProcessBotApi(api), answerer=Answerer(PASSAGES), flood_guard=guard)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        async with serving(app):
            api.take_outgoing()
            with CommitCounter() as commits:
                findings = await run_fuzz(app, api, sessions, world, commits, guard, clock, count=count, seed=SEED)
    elapsed = time.monotonic() - started
    logged_errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    report = {
        "seconds": round(elapsed, 1),
        "of which comparing the database": round(findings.snapshot_seconds, 1),
        "snapshots": findings.snapshots,
        "kinds": dict(findings.kinds),
        "senders": dict(findings.senders),
        "allowed changes": dict(findings.allowed_changes),
        "failed calls": dict(findings.failed_calls),
        "refused by the flood guard": findings.rate_limited,
    }
    print(f"fuzz (seed {SEED}): {json.dumps(report, ensure_ascii=False)}")
    assert not findings.errors, "\n".join(findings.errors[:20])
    assert not logged_errors, "\n".join(r.getMessage() for r in logged_errors[:20])
    assert not findings.violations, "\n".join(findings.violations[:20])
    assert not findings.unanswered, "\n".join(findings.unanswered[:20])
    assert not findings.failed_calls, "\n".join(findings.failed_examples)
    # ... and the fuzz reached what it is meant to: every kind of update went in, the bot let permitted changes
    # through (a bot refusing everything would pass the checks above) and the database was compared all along
    assert set(findings.kinds) == set(KINDS), findings.kinds
    assert sum(findings.allowed_changes.values()) > 0, findings.allowed_changes
    assert findings.snapshots >= count // CHECK_EVERY
    assert findings.rate_limited < count // 2
