"""The durable outbox: claim due reminder rows, and record what became of each one.

Rows are the only truth. A claim turns due ``pending`` rows into ``sending`` rows leased to one instance for a
while: on SQLite with one ``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …`` statement (atomic; SQLite
ignores ``FOR UPDATE``), on PostgreSQL the same statement with ``FOR UPDATE SKIP LOCKED`` in the subquery, so
concurrent instances take disjoint rows without waiting for each other. A lease that runs out (the instance
died) returns its rows to ``pending``. Every mark checks that the row is still leased to the caller.

Organizers hear about two things, each once: members who blocked the bot, and reminders that became useless
while the bot was down (``missed``). Both are notices in the outbox itself, written in the same transaction as
the change they report, and merged per branch while not yet sent.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, Update, and_, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import ORGANIZER_ROLES, Branch, Member, Reminder, ReminderStatus, Role
from bot.services.reminders import branch_zone

logger = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]
R = Reminder.__table__  # core table: claims and marks are single statements, no ORM state

# Literals rather than bound parameters: the partial indexes (WHERE status = 'pending' / 'sending') are only
# used when the query's condition visibly implies theirs.
_PENDING = literal_column("'pending'")
_SENDING = literal_column("'sending'")
_UNLEASED = {"lease_owner": None, "lease_until": None}
_ERROR_CHARS = 300

NOTICE_UNREACHABLE = "notice_unreachable"  # members who blocked the bot, to the branch's organizer
NOTICE_MISSED = "notice_missed"  # reminders that expired while the bot was down, to the organizer
_LISTED = 20  # items spelled out in a notice; the rest are counted
_SNIPPET_CHARS = 40
_ORGANIZER_ORDER = (Role.SECRETARY, Role.DEPUTY_SECRETARY, Role.ORGANIZATION)

UNREACHABLE_TEXT = (
    "⚠️ 以下同志已屏蔽机器人或停用了账号，今后收不到提醒：\n{names}\n"
    "请通过电话或当面通知，并请其在与机器人的私聊中解除屏蔽。"
)
MISSED_TEXT = (
    "以下 {count} 条提醒在机器人停止运行期间到期，现已过时效，未再发送：\n{items}{more}\n如有需要，请另行通知相关同志。"
)
MISSED_MORE = "\n……另有 {count} 条"


@dataclass(frozen=True, slots=True)
class ClaimedReminder:
    """A row leased to this instance until ``lease_until``."""

    id: int
    branch_id: int
    kind: str
    chat_id: int
    member_id: int | None
    due_at: datetime
    expires_at: datetime | None
    urgent: bool
    text: str
    payload: dict[str, Any]
    attempts: int
    lease_until: datetime

    def expired(self, at: datetime) -> bool:
        """Past its usefulness at ``at`` (an "in 1 hour" reminder after the activity started …)."""
        return self.expires_at is not None and self.expires_at <= at


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry delays after transient failures: ``base`` doubled per attempt up to ``cap``; failed at ``max_attempts``."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=30)
    max_attempts: int = 5

    def delay(self, attempts: int) -> timedelta:
        return min(self.cap, self.base * 2 ** max(0, attempts - 1))


@dataclass(frozen=True, slots=True)
class DeliveryContext:
    """What deciding about a claimed batch needs besides the rows: branch time zones, unreachable members."""

    timezones: Mapping[int, ZoneInfo]
    unreachable: frozenset[int]


_CLAIMED = (
    R.c.id, R.c.branch_id, R.c.kind, R.c.chat_id, R.c.member_id, R.c.due_at, R.c.expires_at, R.c.urgent,
    R.c.text, R.c.payload, R.c.attempts, R.c.lease_until,
)  # fmt: skip


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _update_chosen(chosen: Select[Any], postgres: bool) -> Update:
    """An UPDATE of the rows ``chosen`` selects, in one statement.

    PostgreSQL: ``WITH chosen AS (SELECT … FOR UPDATE SKIP LOCKED) UPDATE … FROM chosen``; the CTE runs once (an
    ``IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` may be re-run by the planner and then take more than n rows).
    SQLite: ``UPDATE … WHERE id IN (SELECT …)``, atomic under its single writer.
    """
    if postgres:
        locked = chosen.with_for_update(skip_locked=True).cte("chosen")
        return update(R).where(R.c.id == locked.c.id)
    return update(R).where(R.c.id.in_(chosen))


def _owned(reminder_id: int, owner: str) -> Any:
    return and_(R.c.id == reminder_id, R.c.status == _SENDING, R.c.lease_owner == owner)


# --- claiming ------------------------------------------------------------------------------------------------


async def claim_due(
    sessions: Sessions, owner: str, now: datetime, limit: int, lease: timedelta
) -> list[ClaimedReminder]:
    """Lease up to ``limit`` due pending rows to ``owner`` until ``now + lease``, oldest due first.

    Rows whose lease ran out (their instance died or hung) go back to pending first and may be among them.
    """
    async with sessions() as session, session.begin():
        postgres = _is_postgres(session)
        expired_leases = select(R.c.id).where(R.c.status == _SENDING, R.c.lease_until < now)
        recovered = await session.execute(
            _update_chosen(expired_leases, postgres)
            .where(R.c.status == _SENDING)
            .values(status=ReminderStatus.PENDING.value, **_UNLEASED)
            .returning(R.c.id)
        )
        if returned := recovered.scalars().all():
            logger.warning("reminder leases expired: rows=%d back to pending", len(returned))
        due = select(R.c.id).where(R.c.status == _PENDING, R.c.due_at <= now).order_by(R.c.due_at).limit(limit)
        result = await session.execute(
            _update_chosen(due, postgres)
            .where(R.c.status == _PENDING)
            .values(status=ReminderStatus.SENDING.value, lease_owner=owner, lease_until=now + lease)
            .returning(*_CLAIMED)
        )
        rows = result.all()
    claimed = [
        ClaimedReminder(
            id=row.id, branch_id=row.branch_id, kind=row.kind, chat_id=row.chat_id, member_id=row.member_id,
            due_at=row.due_at, expires_at=row.expires_at, urgent=bool(row.urgent), text=row.text,
            payload=_payload(row.payload), attempts=row.attempts, lease_until=row.lease_until,
        )
        for row in rows
    ]  # fmt: skip
    claimed.sort(key=lambda reminder: (reminder.due_at, reminder.id))  # RETURNING keeps no order
    return claimed


async def delivery_context(
    sessions: Sessions, rows: Sequence[ClaimedReminder], default_timezone: str
) -> DeliveryContext:
    """Branch time zones (for quiet hours) and which addressed members are known to be unreachable."""
    branch_ids = {row.branch_id for row in rows}
    member_ids = {row.member_id for row in rows if row.member_id is not None}
    async with sessions() as session:
        branches = (await session.execute(select(Branch.id, Branch.timezone).where(Branch.id.in_(branch_ids)))).all()
        unreachable = (
            await session.execute(select(Member.id).where(Member.id.in_(member_ids), Member.reachable.is_(False)))
        ).scalars()
        return DeliveryContext(
            timezones={branch_id: _zone(name, default_timezone) for branch_id, name in branches},
            unreachable=frozenset(unreachable),
        )


# --- marking -------------------------------------------------------------------------------------------------


async def mark_sent(sessions: Sessions, reminder_id: int, owner: str, now: datetime) -> bool:
    """Telegram accepted the message. False if the lease was lost meanwhile (the row is someone else's now)."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(R)
            .where(_owned(reminder_id, owner))
            .values(status=ReminderStatus.SENT.value, sent_at=now, **_UNLEASED)
            .returning(R.c.id)
        )
        return result.first() is not None


async def mark_retry(
    sessions: Sessions, reminder_id: int, owner: str, now: datetime, error: str, backoff: Backoff
) -> str | None:
    """A transient failure: pending again after a backoff, or failed once ``backoff.max_attempts`` are used.

    Returns the new status, or None if the lease was lost.
    """
    async with sessions() as session, session.begin():
        attempts = (
            await session.execute(
                update(R)
                .where(_owned(reminder_id, owner))
                .values(attempts=R.c.attempts + 1, last_error=error[:_ERROR_CHARS])
                .returning(R.c.attempts)
            )
        ).scalar_one_or_none()
        if attempts is None:
            return None
        if attempts >= backoff.max_attempts:
            status, values = ReminderStatus.FAILED, {}
        else:
            status, values = ReminderStatus.PENDING, {"due_at": now + backoff.delay(attempts)}
        await session.execute(update(R).where(R.c.id == reminder_id).values(status=status.value, **values, **_UNLEASED))
        return status.value


async def mark_failed(sessions: Sessions, reminder_id: int, owner: str, error: str) -> bool:
    """A permanent failure (400 and the like): no more attempts; it shows in /reminders."""
    async with sessions() as session, session.begin():
        return await _fail(session, reminder_id, owner, error)


async def mark_blocked(sessions: Sessions, row: ClaimedReminder, owner: str, now: datetime, error: str) -> bool:
    """403: the row failed and its member is unreachable. True if the member was reachable until now, in which
    case the branch's organizer is told (once: the flag flips once; one notice lists everyone found meanwhile)."""
    async with sessions() as session, session.begin():
        if not await _fail(session, row.id, owner, error) or row.member_id is None:
            return False
        member = (
            await session.execute(
                update(Member)
                .where(Member.id == row.member_id, Member.reachable.is_(True))
                .values(reachable=False)
                .returning(Member.id, Member.name, Member.branch_id)
            )
        ).first()
        if member is None:
            return False
        await _merge_notice(
            session, member.branch_id, NOTICE_UNREACHABLE, now, [{"member_id": member.id, "name": member.name}]
        )
        return True


async def mark_missed(sessions: Sessions, rows: Sequence[ClaimedReminder], owner: str, now: datetime) -> int:
    """Claimed rows that are no longer useful: missed, and summarised to their branches' organizers."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(R)
            .where(R.c.id.in_([row.id for row in rows]), R.c.status == _SENDING, R.c.lease_owner == owner)
            .values(status=ReminderStatus.MISSED.value, **_UNLEASED)
            .returning(R.c.id, R.c.branch_id, R.c.due_at, R.c.text)
        )
        return await _summarise_missed(session, result.all(), now)


async def sweep_missed(sessions: Sessions, now: datetime) -> int:
    """Pending rows already past their expiry (typically after downtime): missed, summarised, never sent."""
    async with sessions() as session, session.begin():
        expired = select(R.c.id).where(
            R.c.status == _PENDING, R.c.due_at <= now, R.c.expires_at.is_not(None), R.c.expires_at <= now
        )
        result = await session.execute(
            _update_chosen(expired, _is_postgres(session))
            .where(R.c.status == _PENDING)
            .values(status=ReminderStatus.MISSED.value)
            .returning(R.c.id, R.c.branch_id, R.c.due_at, R.c.text)
        )
        return await _summarise_missed(session, result.all(), now)


async def defer(sessions: Sessions, owner: str, until: Mapping[int, datetime]) -> int:
    """Back to pending with a later due time (quiet hours, a busy chat, a long ``retry_after``)."""
    deferred = 0
    async with sessions() as session, session.begin():
        for reminder_id, due_at in until.items():
            result = await session.execute(
                update(R)
                .where(_owned(reminder_id, owner))
                .values(status=ReminderStatus.PENDING.value, due_at=due_at, **_UNLEASED)
                .returning(R.c.id)
            )
            deferred += result.first() is not None
    return deferred


async def release(sessions: Sessions, owner: str, reminder_ids: Iterable[int]) -> int:
    """Unsent claimed rows back to pending as they were (shutting down): another run sends them, once."""
    ids = list(reminder_ids)
    if not ids:
        return 0
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(R)
            .where(R.c.id.in_(ids), R.c.status == _SENDING, R.c.lease_owner == owner)
            .values(status=ReminderStatus.PENDING.value, **_UNLEASED)
            .returning(R.c.id)
        )
        return len(result.all())


async def _fail(session: AsyncSession, reminder_id: int, owner: str, error: str) -> bool:
    result = await session.execute(
        update(R)
        .where(_owned(reminder_id, owner))
        .values(
            status=ReminderStatus.FAILED.value, attempts=R.c.attempts + 1, last_error=error[:_ERROR_CHARS], **_UNLEASED
        )
        .returning(R.c.id)
    )
    return result.first() is not None


# --- notices to organizers -----------------------------------------------------------------------------------


async def _summarise_missed(session: AsyncSession, rows: Sequence[Any], now: datetime) -> int:
    by_branch: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.due_at, r.id)):
        by_branch[row.branch_id].append({"id": row.id, "due_at": row.due_at.isoformat(), "text": _snippet(row.text)})
    for branch_id, items in sorted(by_branch.items()):
        await _merge_notice(session, branch_id, NOTICE_MISSED, now, items)
    if rows:
        logger.info("reminders missed: rows=%d branches=%d", len(rows), len(by_branch))
    return len(rows)


async def _merge_notice(
    session: AsyncSession, branch_id: int, kind: str, now: datetime, items: list[dict[str, Any]]
) -> None:
    """Add ``items`` to the branch's unsent notice of ``kind``, or write a new one due now."""
    postgres = _is_postgres(session)
    # Serialise notice writers per branch (NO KEY UPDATE: reminder inserts referencing the branch go on).
    branch_query = select(Branch.id, Branch.timezone, Branch.chat_id).where(Branch.id == branch_id)
    if postgres:
        branch_query = branch_query.with_for_update(key_share=True)
    branch = (await session.execute(branch_query)).one()
    zone = branch_zone(branch.timezone)
    open_notice = (
        await session.execute(
            select(R.c.id, R.c.payload)
            .where(R.c.branch_id == branch_id, R.c.kind == kind, R.c.status == _PENDING)
            .order_by(R.c.id)
            .limit(1)
        )
    ).first()
    if open_notice is not None:
        payload = _payload(open_notice.payload)
        payload["count"] = payload.get("count", 0) + len(items)
        payload["items"] = (payload.get("items", []) + items)[:_LISTED]
        await session.execute(
            update(R)
            .where(R.c.id == open_notice.id)
            .values(text=_notice_text(kind, payload, zone), payload=json.dumps(payload, ensure_ascii=False))
        )
        return
    recipient = await _organizer(session, branch_id)
    if recipient is None and kind == NOTICE_MISSED and branch.chat_id is not None:
        recipient = (None, branch.chat_id)  # no organizer in private chat: the branch group hears about it
    if recipient is None:
        logger.warning("notice dropped: kind=%s branch=%d reason=no organizer reachable", kind, branch_id)
        return
    member_id, chat_id = recipient
    payload = {"count": len(items), "items": items[:_LISTED]}
    session.add(
        Reminder(
            branch_id=branch_id,
            kind=kind,
            dedup_key=f"{kind}:{branch_id}:{now:%Y%m%dT%H%M%S.%f}:{items[0].get('id', items[0].get('member_id'))}",
            chat_id=chat_id,
            member_id=member_id,
            due_at=now,
            text=_notice_text(kind, payload, zone),
            payload=json.dumps(payload, ensure_ascii=False),
        )
    )
    await session.flush()


async def _organizer(session: AsyncSession, branch_id: int) -> tuple[int, int] | None:
    """(member id, private chat id) of the branch's 书记, else 副书记, else 组织委员 — reachable, with Telegram."""
    candidates = (
        await session.execute(
            select(Member.id, Member.telegram_user_id, Member.role).where(
                Member.branch_id == branch_id,
                Member.role.in_([role.value for role in ORGANIZER_ROLES]),
                Member.telegram_user_id.is_not(None),
                Member.reachable.is_(True),
            )
        )
    ).all()
    if not candidates:
        return None
    rank = {role.value: position for position, role in enumerate(_ORGANIZER_ORDER)}
    best = min(candidates, key=lambda member: (rank.get(member.role, len(rank)), member.id))
    return best.id, best.telegram_user_id


def _notice_text(kind: str, payload: Mapping[str, Any], zone: ZoneInfo) -> str:
    items = payload.get("items", [])
    if kind == NOTICE_UNREACHABLE:
        return UNREACHABLE_TEXT.format(names="\n".join(f"· {html.escape(item['name'])}" for item in items))
    lines = []
    for item in items:
        due = datetime.fromisoformat(item["due_at"]).astimezone(zone)
        lines.append(f"· {due.month}月{due.day}日 {due:%H:%M} {html.escape(item['text'])}")
    count = int(payload.get("count", len(items)))
    more = MISSED_MORE.format(count=count - len(items)) if count > len(items) else ""
    return MISSED_TEXT.format(count=count, items="\n".join(lines), more=more)


_TAGS = re.compile(r"<[^>]*>")


def _snippet(text: str) -> str:
    """The reminder's first words as plain text (it is Telegram HTML)."""
    plain = " ".join(html.unescape(_TAGS.sub("", text)).split())
    return plain if len(plain) <= _SNIPPET_CHARS else plain[: _SNIPPET_CHARS - 1] + "…"


def _payload(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _zone(name: str, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)
