"""Roster import: add a branch's members from a CSV (UTF-8, UTF-8 with BOM, GBK) or XLSX file.

The first non-empty row is the header: 姓名 (required), 状态 (正式党员/预备党员, also 正式/预备; empty means 正式党员),
职务 (a role; empty means 党员) and 党小组 (created if missing); other columns are ignored. Every row is checked
before anything is stored: any problem rejects the whole file with the line number of each one (a `RosterError`),
and a clean file is added in one transaction with one AuditLog row. Imported members have no Telegram account
yet; opening an invite link with the same name links them (bot.services.invites.join_branch).

The file is read by bot.services.roster_file (within bounds) in a child process with a time and memory limit
(bot.services.untrusted_files), before `import_roster` first uses its session: no transaction is open meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Branch, Member, MemberStatus, PartyGroup, Role
from bot.services.access import Caller
from bot.services.branch_members import MAX_GROUP_NAME_CHARS
from bot.services.branch_setup import MAX_MEMBER_NAME_CHARS, BranchError, audit, clean_name, list_groups
from bot.services.roster_file import (
    COLUMN_NAME,
    MAX_ROSTER_ROWS,
    MSG_NO_HEADER,
    MSG_TOO_MANY_ROWS,
    RosterError,
    RosterProblem,
    Rows,
    check_file,
    refuse,
)
from bot.services.untrusted_files import read_roster_rows

__all__ = [
    "ImportResult",
    "RosterEntry",
    "RosterError",
    "RosterProblem",
    "check_file",
    "check_rows",
    "import_roster",
]

COLUMN_STATUS = "状态"
COLUMN_ROLE = "职务"
COLUMN_GROUP = "党小组"
STATUS_WORDS = {
    "正式党员": MemberStatus.FULL,
    "正式": MemberStatus.FULL,
    "预备党员": MemberStatus.PROBATIONARY,
    "预备": MemberStatus.PROBATIONARY,
}

_ROLE_VALUES = frozenset(role.value for role in Role)

# --- Messages (Simplified Chinese; a RosterError's text is shown to the 书记 or the operator) ----------------------
MSG_NO_ROWS = "名册里没有党员记录，请在表头下面逐行填写。"
MSG_NO_BRANCH = "没有编号为 {branch_id} 的支部。"
MSG_BAD_STATUS = "状态「{value}」无法识别，请填写正式党员或预备党员。"
MSG_BAD_ROLE = "职务「{value}」无法识别，可填写：{roles}。"
MSG_DUPLICATE = "姓名「{name}」与第 {first} 行重复。"
MSG_TWO_SECRETARIES = "名册中只能有一位书记（第 {first} 行已是书记）。"
MSG_ALREADY_MEMBER = "「{name}」已在本支部名单中。"
MSG_HAS_SECRETARY = "本支部已有书记（{name}），名册中不能再设书记。"


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One member row, read and checked."""

    line: int
    name: str
    status: MemberStatus
    role: Role
    group: str | None


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    groups_created: tuple[str, ...]


async def import_roster(
    session: AsyncSession, branch_id: int, filename: str, content: bytes, now: datetime, caller: Caller | None
) -> ImportResult:
    """Add every member of the roster file to the branch, or none (RosterError). ``caller`` None: the operator.

    The file is read first, in a child process, while ``session`` has not yet begun a transaction.
    """
    entries, problems = check_rows(await read_roster_rows(filename, content))
    branch = await session.get(Branch, branch_id)
    if branch is None:
        raise refuse(MSG_NO_BRANCH.format(branch_id=branch_id))
    members = (await session.scalars(select(Member).where(Member.branch_id == branch_id))).all()
    names = {member.name for member in members}
    secretary = next((member for member in members if member.role == Role.SECRETARY), None)
    for entry in entries:
        if entry.name in names:
            problems.append(RosterProblem(entry.line, MSG_ALREADY_MEMBER.format(name=entry.name)))
        if entry.role == Role.SECRETARY and secretary is not None:
            problems.append(RosterProblem(entry.line, MSG_HAS_SECRETARY.format(name=secretary.name)))
    if problems:
        raise RosterError(problems)

    groups = {group.name: group for group in await list_groups(session, branch_id)}
    created = [name for name in dict.fromkeys(e.group for e in entries if e.group) if name not in groups]
    for name in created:
        groups[name] = PartyGroup(branch_id=branch_id, name=name)
        session.add(groups[name])
    await session.flush()
    session.add_all(
        Member(
            branch_id=branch_id,
            name=entry.name,
            status=entry.status.value,
            role=entry.role.value,
            party_group_id=groups[entry.group].id if entry.group else None,
            joined_at=now,
        )
        for entry in entries
    )
    audit(
        session,
        "roster.import",
        now,
        caller=caller,
        branch_id=branch_id,
        target=PurePath(filename).name[:100],
        detail={"added": len(entries), "groups_created": created, "names": [entry.name for entry in entries]},
    )
    await session.commit()
    return ImportResult(len(entries), tuple(created))


def check_rows(rows: Rows) -> tuple[list[RosterEntry], list[RosterProblem]]:
    """The entries of a roster's rows (bot.services.roster_file), and the problems found in them."""
    if not rows or COLUMN_NAME not in rows[0][1]:
        raise refuse(MSG_NO_HEADER)
    (_, header), records = rows[0], rows[1:]
    if not records:
        raise refuse(MSG_NO_ROWS)
    if len(records) > MAX_ROSTER_ROWS:
        raise refuse(MSG_TOO_MANY_ROWS)
    columns = {title: header.index(title) for title in (COLUMN_NAME, COLUMN_STATUS, COLUMN_ROLE, COLUMN_GROUP)
               if title in header}  # fmt: skip

    entries: list[RosterEntry] = []
    problems: list[RosterProblem] = []
    first_line_of: dict[str, int] = {}
    secretary_line: int | None = None
    for line, cells in records:
        found = _row_problems(cells, columns)
        if found:
            problems.extend(RosterProblem(line, message) for message in found)
            continue
        entry = _entry(line, cells, columns)
        if entry.name in first_line_of:
            problems.append(RosterProblem(line, MSG_DUPLICATE.format(name=entry.name, first=first_line_of[entry.name])))
            continue
        first_line_of[entry.name] = line
        if entry.role == Role.SECRETARY:
            if secretary_line is not None:
                problems.append(RosterProblem(line, MSG_TWO_SECRETARIES.format(first=secretary_line)))
                continue
            secretary_line = line
        entries.append(entry)
    return entries, problems


def _cell(cells: list[str], columns: dict[str, int], title: str) -> str:
    index = columns.get(title)
    return cells[index] if index is not None and index < len(cells) else ""


def _row_problems(cells: list[str], columns: dict[str, int]) -> list[str]:
    found = []
    for title, limit in ((COLUMN_NAME, MAX_MEMBER_NAME_CHARS), (COLUMN_GROUP, MAX_GROUP_NAME_CHARS)):
        value = _cell(cells, columns, title)
        if value or title == COLUMN_NAME:
            try:
                clean_name(value, title, limit)
            except BranchError as problem:
                found.append(str(problem))
    status = _cell(cells, columns, COLUMN_STATUS)
    if status and status not in STATUS_WORDS:
        found.append(MSG_BAD_STATUS.format(value=status))
    role = _cell(cells, columns, COLUMN_ROLE)
    if role and role not in _ROLE_VALUES:
        found.append(MSG_BAD_ROLE.format(value=role, roles="、".join(Role)))
    return found


def _entry(line: int, cells: list[str], columns: dict[str, int]) -> RosterEntry:
    """A row that `_row_problems` found nothing wrong with."""
    group = _cell(cells, columns, COLUMN_GROUP)
    return RosterEntry(
        line=line,
        name=clean_name(_cell(cells, columns, COLUMN_NAME), COLUMN_NAME, MAX_MEMBER_NAME_CHARS),
        status=STATUS_WORDS.get(_cell(cells, columns, COLUMN_STATUS), MemberStatus.FULL),
        role=Role(_cell(cells, columns, COLUMN_ROLE) or Role.MEMBER),
        group=clean_name(group, COLUMN_GROUP, MAX_GROUP_NAME_CHARS) if group else None,
    )
