"""Roster import: add a branch's members from a CSV (UTF-8, UTF-8 with BOM, GBK) or XLSX file.

The first non-empty row is the header: 姓名 (required), 状态 (正式党员/预备党员, also 正式/预备; empty means 正式党员),
职务 (a role; empty means 党员) and 党小组 (created if missing); other columns are ignored. Every row is checked
before anything is stored: any problem rejects the whole file with the line number of each one (a `RosterError`),
and a clean file is added in one transaction with one AuditLog row. Imported members have no Telegram account
yet; opening an invite link with the same name links them (bot.services.branches.join_branch).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

import openpyxl
from charset_normalizer import from_bytes
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Branch, Member, MemberStatus, PartyGroup, Role
from bot.services.access import Caller
from bot.services.branches import (
    MAX_GROUP_NAME_CHARS,
    MAX_MEMBER_NAME_CHARS,
    BranchError,
    audit,
    clean_name,
    list_groups,
)

SUPPORTED_SUFFIXES = (".csv", ".xlsx")
MAX_ROSTER_BYTES = 1_000_000
MAX_ROSTER_ROWS = 1000
MAX_PROBLEMS_SHOWN = 20

COLUMN_NAME = "姓名"
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
MSG_UNSUPPORTED = "只能导入 .csv 或 .xlsx 文件（Excel 旧格式 .xls 请先另存为 .xlsx）。"
MSG_TOO_BIG = "文件太大（超过 1 MB），请拆分后分批导入。"
MSG_TOO_MANY_ROWS = f"名册超过 {MAX_ROSTER_ROWS} 行，请拆分后分批导入。"
MSG_ENCODING = "无法识别文件的文字编码，请用 Excel 另存为「CSV UTF-8」或 .xlsx 后重试。"
MSG_BAD_CSV = "无法读取这个 CSV 文件，请用 Excel 另存为「CSV UTF-8」或 .xlsx 后重试。"
MSG_BAD_XLSX = "无法读取这个 Excel 文件，请确认它是 .xlsx 格式，并且没有加密。"
MSG_NO_HEADER = f"没有找到表头「{COLUMN_NAME}」。第一行应是表头，例如：姓名,状态,职务,党小组"
MSG_NO_ROWS = "名册里没有党员记录，请在表头下面逐行填写。"
MSG_NO_BRANCH = "没有编号为 {branch_id} 的支部。"
MSG_BAD_STATUS = "状态「{value}」无法识别，请填写正式党员或预备党员。"
MSG_BAD_ROLE = "职务「{value}」无法识别，可填写：{roles}。"
MSG_DUPLICATE = "姓名「{name}」与第 {first} 行重复。"
MSG_TWO_SECRETARIES = "名册中只能有一位书记（第 {first} 行已是书记）。"
MSG_ALREADY_MEMBER = "「{name}」已在本支部名单中。"
MSG_HAS_SECRETARY = "本支部已有书记（{name}），名册中不能再设书记。"
MSG_LINE = "第 {line} 行：{message}"
MSG_MORE_PROBLEMS = "……另有 {count} 处问题未列出。"


@dataclass(frozen=True, slots=True)
class RosterProblem:
    """One thing wrong with the file; ``line`` None when it concerns the whole file."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else MSG_LINE.format(line=self.line, message=self.message)


class RosterError(Exception):
    """The file was rejected and nothing was stored; ``str(exc)`` lists the problems, one per line."""

    def __init__(self, problems: Iterable[RosterProblem]) -> None:
        self.problems = sorted(problems, key=lambda problem: problem.line or 0)
        shown = [str(problem) for problem in self.problems[:MAX_PROBLEMS_SHOWN]]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            shown.append(MSG_MORE_PROBLEMS.format(count=len(self.problems) - MAX_PROBLEMS_SHOWN))
        super().__init__("\n".join(shown))


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
    """Add every member of the roster file to the branch, or none (RosterError). ``caller`` None: the operator."""
    branch = await session.get(Branch, branch_id)
    if branch is None:
        raise RosterError([RosterProblem(None, MSG_NO_BRANCH.format(branch_id=branch_id))])
    entries, problems = read_roster(filename, content)
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


def check_file(filename: str, size: int) -> None:
    """RosterError unless a file of this name and size could be a roster (checked before downloading it)."""
    if PurePath(filename).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise RosterError([RosterProblem(None, MSG_UNSUPPORTED)])
    if size > MAX_ROSTER_BYTES:
        raise RosterError([RosterProblem(None, MSG_TOO_BIG)])


def read_roster(filename: str, content: bytes) -> tuple[list[RosterEntry], list[RosterProblem]]:
    """The rows of a roster file, checked on their own (not against the database), and the problems found.

    A file that cannot be read at all raises RosterError at once.
    """
    check_file(filename, len(content))
    rows = _xlsx_rows(content) if PurePath(filename).suffix.lower() == ".xlsx" else _csv_rows(content)
    if not rows or COLUMN_NAME not in rows[0][1]:
        raise RosterError([RosterProblem(None, MSG_NO_HEADER)])
    (_, header), records = rows[0], rows[1:]
    if not records:
        raise RosterError([RosterProblem(None, MSG_NO_ROWS)])
    if len(records) > MAX_ROSTER_ROWS:
        raise RosterError([RosterProblem(None, MSG_TOO_MANY_ROWS)])
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


# --- reading the file: (line number, cells) of every non-empty row -------------------------------------------------


def _csv_rows(content: bytes) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(_decode(content), newline=""))
    try:
        return _non_empty((reader.line_num, row) for row in reader)
    except csv.Error as error:
        raise RosterError([RosterProblem(None, MSG_BAD_CSV)]) from error


def _decode(content: bytes) -> str:
    """UTF-8 (with or without BOM) first; otherwise the first of charset-normalizer's guesses that reads a header.

    Its best guess alone is unreliable on a few GBK characters (a two-line roster may come out as Big5), but a
    wrong guess does not produce the header word 姓名.
    """
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for guess in from_bytes(content):
        text = str(guess)
        if COLUMN_NAME in text:
            return text
    raise RosterError([RosterProblem(None, MSG_ENCODING)])


def _xlsx_rows(content: bytes) -> list[tuple[int, list[str]]]:
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as error:
        raise RosterError([RosterProblem(None, MSG_BAD_XLSX)]) from error
    try:
        sheet = workbook.worksheets[0]
        return _non_empty(enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1))
    finally:
        workbook.close()


def _non_empty(rows: Iterable[tuple[int, Iterable[object]]]) -> list[tuple[int, list[str]]]:
    """Rows with their cells as stripped text; empty rows dropped (reading stops past the row limit + header)."""
    kept: list[tuple[int, list[str]]] = []
    for line, row in rows:
        cells = [_text(value) for value in row]
        if any(cells):
            kept.append((line, cells))
            if len(kept) > MAX_ROSTER_ROWS + 1:
                break
    return kept


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():  # Excel stores 1 as 1.0
        return str(int(value))
    return str(value).strip()
