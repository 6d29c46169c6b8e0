"""SQLModel tables. Times are UTC (``UTCDateTime``); Telegram ids are 64-bit (``BigInteger``).

Constraint names follow one naming convention so that Alembic (and SQLite batch mode) can address them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Document(SQLModel, table=True):
    """An uploaded knowledge document (规章制度、上级通知…); its passages are searched together with curated ones."""

    __tablename__ = "document"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    filename: str = Field(max_length=255)
    # None: every branch sees it (added by `partybot kb add`); else only the branch that uploaded it.
    scope_branch_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("branch.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    added_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    passage_count: int = 0


class DocumentPassage(SQLModel, table=True):
    """One passage of a document, in document order; ``heading_path`` is a JSON list of headings."""

    __tablename__ = "document_passage"
    __table_args__ = (UniqueConstraint("document_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(sa_column=Column(Integer, ForeignKey("document.id", ondelete="CASCADE"), nullable=False))
    position: int
    heading_path: str = Field(default="[]", sa_type=Text)
    text: str = Field(sa_type=Text)


# --- vocabularies stored as text (values are what users see) -------------------------------------------------------


class ActivityKind(StrEnum):
    """The kinds of branch activity."""

    MEMBERS_MEETING = "支部党员大会"
    COMMITTEE_MEETING = "支委会"
    PARTY_GROUP_MEETING = "党小组会"
    PARTY_LECTURE = "党课"
    THEME_DAY = "主题党日"
    ORGANIZATIONAL_LIFE_MEETING = "组织生活会"
    DEMOCRATIC_APPRAISAL = "民主评议党员"
    OTHER = "其他"


class MemberStatus(StrEnum):
    FULL = "正式党员"
    PROBATIONARY = "预备党员"


class Role(StrEnum):
    SECRETARY = "书记"
    DEPUTY_SECRETARY = "副书记"
    ORGANIZATION = "组织委员"
    PROPAGANDA = "宣传委员"
    DISCIPLINE = "纪检委员"
    GROUP_LEADER = "党小组长"
    MEMBER = "党员"


# Members of the branch committee (支委会): the quorum of a 支委会 counts these.
COMMITTEE_ROLES = frozenset(
    {Role.SECRETARY, Role.DEPUTY_SECRETARY, Role.ORGANIZATION, Role.PROPAGANDA, Role.DISCIPLINE}
)
# Who may organise: create and manage activities, invite, check others in, export.
ORGANIZER_ROLES = frozenset({Role.SECRETARY, Role.DEPUTY_SECRETARY, Role.ORGANIZATION})
# Who may pass the role check of managing an activity (/proxy, /code, /attendance, /done …); which activities, the
# services decide (a 党小组长 runs the 党小组会).
MANAGER_ROLES = ORGANIZER_ROLES | {Role.GROUP_LEADER}
# Who runs the branch's knowledge, groups and 主题党日 setting: the 书记 and the 组织委员.
SECRETARY_AND_ORGANIZATION = frozenset({Role.SECRETARY, Role.ORGANIZATION})
SECRETARY_ONLY = frozenset({Role.SECRETARY})


class ActivityStatus(StrEnum):
    PLANNED = "planned"
    HELD = "held"
    CANCELLED = "cancelled"


class AttendanceStatus(StrEnum):
    PRESENT = "present"
    LEAVE = "leave"
    ABSENT = "absent"


class AttendanceMethod(StrEnum):
    BUTTON = "button"  # 签到 button on the announcement
    COMMAND = "command"  # /checkin in a private chat
    CODE = "code"  # /checkin with the meeting's 4-digit code
    PROXY = "proxy"  # an organizer checked the member in or marked leave (代签/补签)


class LeaveReason(StrEnum):
    STUDY = "学习"
    TRAVEL = "出差"
    ILLNESS = "生病"
    OTHER = "其他"


def _one_of(column: str, values: type[StrEnum]) -> CheckConstraint:
    listed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_valid")


# --- branches and members ------------------------------------------------------------------------------------------


class Branch(SQLModel, table=True):
    """A 党支部 (or a 党总支 / 党委 above several, via ``parent_id``), optionally bound to one Telegram group."""

    __tablename__ = "branch"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    parent_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("branch.id", ondelete="SET NULL"), nullable=True)
    )
    chat_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    # 主题党日 rule, e.g. "day:15" or "weekday:1:4" (first Friday); set with /themeday (reminders issue)
    theme_day_rule: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RequirementOverride(SQLModel, table=True):
    """A branch's stricter local minimum for one requirement of bot.services.requirements (never weaker)."""

    __tablename__ = "requirement_override"
    __table_args__ = (UniqueConstraint("branch_id", "requirement_key"), CheckConstraint("minimum >= 1", name="minimum"))

    id: int | None = Field(default=None, primary_key=True)
    branch_id: int = Field(sa_column=Column(Integer, ForeignKey("branch.id", ondelete="CASCADE"), nullable=False))
    requirement_key: str = Field(max_length=40)
    minimum: int


class PartyGroup(SQLModel, table=True):
    """A 党小组 of a branch."""

    __tablename__ = "party_group"
    __table_args__ = (UniqueConstraint("branch_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    branch_id: int = Field(sa_column=Column(Integer, ForeignKey("branch.id", ondelete="CASCADE"), nullable=False))
    name: str = Field(max_length=50)


class Member(SQLModel, table=True):
    """A Party member. One branch at a time; moving changes ``branch_id`` and keeps the attendance history.

    ``telegram_user_id`` is empty for members imported from a roster until they open an invite link or a claim
    link (``claim_code_hash``: the one-time code the 书记 hands out, which alone keeps the imported role).
    ``active`` is False once the member was removed (/remove) or left the bound group: every record stays, and
    the member can no longer act.
    """

    __tablename__ = "member"
    __table_args__ = (
        _one_of("status", MemberStatus),
        _one_of("role", Role),
        Index("ix_member_branch_id", "branch_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    branch_id: int = Field(sa_column=Column(Integer, ForeignKey("branch.id", ondelete="RESTRICT"), nullable=False))
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    name: str = Field(max_length=50)
    status: str = Field(default=MemberStatus.FULL.value, max_length=10)
    role: str = Field(default=Role.MEMBER.value, max_length=10)
    party_group_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("party_group.id", ondelete="SET NULL"), nullable=True)
    )
    reachable: bool = True  # False after Telegram answered 403 (the member blocked the bot)
    reminders_enabled: bool = True
    joined_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    active: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # SHA-256 (hex) of the roster row's claim code, while one is outstanding; never the code itself
    claim_code_hash: str | None = Field(default=None, max_length=64, unique=True)
    claim_code_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Invite(SQLModel, table=True):
    """A join link ``/start join_<token>``: random, branch-scoped, expiring, with a use limit, revocable.

    Only the token's SHA-256 (hex) is stored: whoever reads the table cannot open the links."""

    __tablename__ = "invite"
    __table_args__ = (CheckConstraint("uses >= 0 AND uses <= max_uses", name="uses"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    branch_id: int = Field(sa_column=Column(Integer, ForeignKey("branch.id", ondelete="CASCADE"), nullable=False))
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("member.id", ondelete="SET NULL"), nullable=True)
    )
    expires_at: datetime = Field(sa_type=UTCDateTime)
    max_uses: int = 50
    uses: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# --- activities and attendance -------------------------------------------------------------------------------------


class Activity(SQLModel, table=True):
    """One meeting or event of a branch. ``kind`` is the main kind; ActivityKindLink lists every kind it counts as."""

    __tablename__ = "activity"
    __table_args__ = (
        _one_of("kind", ActivityKind),
        _one_of("status", ActivityStatus),
        CheckConstraint("checkin_opens_before_min >= 0 AND checkin_closes_after_min >= 0", name="checkin_window"),
        Index("ix_activity_branch_id_starts_at", "branch_id", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # RESTRICT: an activity is a record; it is cancelled, never deleted with its branch
    branch_id: int = Field(sa_column=Column(Integer, ForeignKey("branch.id", ondelete="RESTRICT"), nullable=False))
    kind: str = Field(max_length=10)
    topic: str = Field(default="", max_length=200)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    place: str = Field(default="", max_length=100)
    lecturer: str = Field(default="", max_length=50)
    lecturer_is_secretary: bool = False
    party_group_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("party_group.id", ondelete="SET NULL"), nullable=True)
    )
    checkin_opens_before_min: int = 30
    checkin_closes_after_min: int = 60
    checkin_code: str | None = Field(default=None, max_length=4)
    status: str = Field(default=ActivityStatus.PLANNED.value, max_length=10)
    minutes: str | None = Field(default=None, sa_type=Text)
    minutes_file_id: str | None = Field(default=None, max_length=200)
    recorded_after: bool = False  # 补录: entered after it took place
    # set when it was marked held and its roster (ActivityRoster) recorded: its 应到 no longer follows the roster
    roster_recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    announcement_message_id: int | None = Field(default=None, sa_type=BigInteger)
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("member.id", ondelete="SET NULL"), nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ActivityKindLink(SQLModel, table=True):
    """Each kind an activity counts as (a 主题党日 that includes a 党员大会 has two rows)."""

    __tablename__ = "activity_kind"
    __table_args__ = (_one_of("kind", ActivityKind),)

    activity_id: int = Field(sa_column=Column(Integer, ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True))
    kind: str = Field(max_length=10, primary_key=True)


class Attendance(SQLModel, table=True):
    """One member's attendance at one activity: at most one row per pair (the unique constraint is the guard)."""

    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("activity_id", "member_id"),
        _one_of("status", AttendanceStatus),
        _one_of("method", AttendanceMethod),
        Index("ix_attendance_member_id", "member_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # RESTRICT: attendance is the record of the 台账; activities are cancelled and members made inactive instead
    activity_id: int = Field(sa_column=Column(Integer, ForeignKey("activity.id", ondelete="RESTRICT"), nullable=False))
    member_id: int = Field(sa_column=Column(Integer, ForeignKey("member.id", ondelete="RESTRICT"), nullable=False))
    status: str = Field(max_length=10)
    method: str = Field(max_length=10)
    recorded_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("member.id", ondelete="SET NULL"), nullable=True)
    )
    leave_reason: str | None = Field(default=None, max_length=10)
    leave_note: str | None = Field(default=None, max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ActivityRoster(SQLModel, table=True):
    """Who belonged to the branch when an activity was held, as they were then (status, role, 党小组).

    Written once, when the activity is marked held (/done) or recorded afterwards (/record): 应到, 缺席 and the
    quorum of a held activity are computed from these rows, so a member who moves away or joins later does not
    change the 台账 of a meeting already held (bot.services.expected_roster.held_rosters)."""

    __tablename__ = "activity_roster"
    __table_args__ = (_one_of("status", MemberStatus), _one_of("role", Role))

    activity_id: int = Field(
        sa_column=Column(Integer, ForeignKey("activity.id", ondelete="RESTRICT"), primary_key=True)
    )
    member_id: int = Field(
        sa_column=Column(Integer, ForeignKey("member.id", ondelete="RESTRICT"), primary_key=True, index=True)
    )
    status: str = Field(max_length=10)
    role: str = Field(max_length=10)
    party_group_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("party_group.id", ondelete="SET NULL"), nullable=True)
    )


class CheckinCodeAttempt(SQLModel, table=True):
    """Wrong check-in codes a member typed for an activity; five wrong tries lock code check-in for them."""

    __tablename__ = "checkin_code_attempt"

    activity_id: int = Field(sa_column=Column(Integer, ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True))
    member_id: int = Field(sa_column=Column(Integer, ForeignKey("member.id", ondelete="CASCADE"), primary_key=True))
    failures: int = 0


class AuditLog(SQLModel, table=True):
    """Who changed what: one row per data-changing command."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_branch_id_at", "branch_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # RESTRICT: the audit trail outlives nothing it describes; a branch that has one is never deleted
    branch_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("branch.id", ondelete="RESTRICT"), nullable=True)
    )
    actor_member_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("member.id", ondelete="SET NULL"), nullable=True)
    )
    actor_telegram_id: int | None = Field(default=None, sa_type=BigInteger)
    action: str = Field(max_length=40)
    target: str = Field(default="", max_length=100)
    detail: str = Field(default="", sa_type=Text)


# --- reminders (the durable outbox) --------------------------------------------------------------------------------


class ReminderStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by an instance until lease_until
    SENT = "sent"
    FAILED = "failed"  # gave up after retries; shown in /reminders
    MISSED = "missed"  # fell due while the bot was down and is no longer useful
    CANCELLED = "cancelled"  # its reason went away (activity cancelled, requirement met …)


class Reminder(SQLModel, table=True):
    """One message to send at ``due_at``. Rows are the only truth: planning upserts them by ``dedup_key`` and
    delivery claims, sends and marks them, so restarts and several instances neither lose nor double them."""

    __tablename__ = "reminder"
    __table_args__ = (
        _one_of("status", ReminderStatus),
        # The claim query reads pending rows by due time; the partial index keeps it small at any table size.
        Index(
            "ix_reminder_pending_due_at",
            "due_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_reminder_sending_lease_until",
            "lease_until",
            postgresql_where=text("status = 'sending'"),
            sqlite_where=text("status = 'sending'"),
        ),
        Index("ix_reminder_branch_id_status", "branch_id", "status"),
        # A member's recorded attendance cancels their pending reminders of that activity (one statement per
        # check-in batch, see bot.db.pairs_in): found through this index, not by scanning the table. Not partial:
        # SQLite uses a partial index for one (activity, member) term but scans it for several OR-ed terms.
        Index("ix_reminder_activity_id_member_id", "activity_id", "member_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    branch_id: int = Field(sa_column=Column(Integer, ForeignKey("branch.id", ondelete="CASCADE"), nullable=False))
    kind: str = Field(max_length=30)
    dedup_key: str = Field(max_length=120, unique=True)
    chat_id: int = Field(sa_type=BigInteger)
    member_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("member.id", ondelete="CASCADE"), nullable=True)
    )
    activity_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("activity.id", ondelete="CASCADE"), nullable=True)
    )
    due_at: datetime = Field(sa_type=UTCDateTime)
    # Past this moment the message is no longer useful and is marked missed instead of sent late.
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    urgent: bool = False  # sent even in quiet hours
    text: str = Field(sa_type=Text)
    payload: str = Field(default="{}", sa_type=Text)  # JSON: buttons and what the text was built from
    status: str = Field(default=ReminderStatus.PENDING.value, max_length=10)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=300)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MakeupTask(SQLModel, table=True):
    """补学: a member absent without leave makes up the content of an activity by a due date."""

    __tablename__ = "makeup_task"
    __table_args__ = (UniqueConstraint("activity_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(sa_column=Column(Integer, ForeignKey("activity.id", ondelete="CASCADE"), nullable=False))
    member_id: int = Field(sa_column=Column(Integer, ForeignKey("member.id", ondelete="CASCADE"), nullable=False))
    due_at: datetime = Field(sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- conversations in progress (bot.persistence) -------------------------------------------------------------------


class ConversationStateKind(StrEnum):
    USER_DATA = "user_data"  # a person's drafts (context.user_data); name is ""
    CONVERSATION = "conversation"  # the step of one ConversationHandler (name) for one key (chat, user)


class ConversationState(SQLModel, table=True):
    """What a guided conversation needs after a restart: a person's drafts, or one conversation's current step.

    Written by bot.persistence (PTB's persistence hooks); ``data`` is tagged JSON (bot.state_json), never a pickle.
    Rows go away when the data empties or the conversation ends."""

    __tablename__ = "conversation_state"
    __table_args__ = (_one_of("kind", ConversationStateKind),)

    kind: str = Field(max_length=20, primary_key=True)
    name: str = Field(default="", max_length=64, primary_key=True)
    key: str = Field(max_length=100, primary_key=True)  # the user id, or the conversation key as a JSON list
    data: str = Field(sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
