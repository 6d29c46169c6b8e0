"""The 台账 (ledger) of a branch for a month, quarter or year: every activity with its attendance, as XLSX or CSV.

Periods are written ``2026Q4``, ``2026-11`` or ``2026`` and are the branch's local calendar periods.

Attendance per activity: 应到 are the members bot.services.expected_roster.expected_members names (the rule /attendance
uses) from the roster the activity is judged against — for a held activity the roster recorded when it was marked
held (bot.models.ActivityRoster), so later moves, joins and removals do not rewrite it; for one not held yet the
branch's active members. 实到 and 请假 are the attendance rows marked present or on leave (whoever they are: a
member who has since moved branch still shows); 缺席 are, for a held activity, the expected members with no row,
plus anyone marked absent.

The XLSX has a 汇总 sheet (each requirement per period with the branch's local minimums, then counts per kind)
and one sheet per activity kind; an activity of several kinds is listed on each of its kinds' sheets. The CSV is
one table of every activity, in UTF-8 with a BOM so that Excel shows the Chinese.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (
    Activity,
    ActivityKind,
    ActivityKindLink,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    Branch,
    Member,
)
from bot.services.expected_roster import current_roster, expected_members, held_rosters
from bot.services.progress import branch_requirements, branch_timezone, held_activity, party_groups, utc_bounds
from bot.services.requirements import (
    HeldActivity,
    Period,
    Requirement,
    evaluate,
    period_bounds,
    period_label,
)
from bot.services.text_hygiene import export_cell
from bot.services.when import WEEKDAY_NAMES

# --- texts of the exported document ------------------------------------------------------------------------------

SUMMARY_SHEET = "汇总"
COLUMNS: tuple[tuple[str, int], ...] = (  # (header, column width in characters)
    ("序号", 6),
    ("日期", 14),
    ("时间", 12),
    ("活动类型", 18),
    ("党小组", 12),
    ("主题", 30),
    ("地点", 16),
    ("主讲人", 12),
    ("状态", 8),
    ("应到", 6),
    ("实到", 6),
    ("请假", 6),
    ("缺席", 6),
    ("实到人员", 40),
    ("请假人员", 30),
    ("缺席人员", 30),
    ("会议记录", 60),
    ("备注", 8),
)
COMPLIANCE_COLUMNS: tuple[tuple[str, int], ...] = (
    ("要求", 34),
    ("统计期", 16),
    ("范围", 14),
    ("应开（次）", 10),
    ("已开（次）", 10),
    ("情况", 10),
    ("依据", 50),
)
STATUS_NAMES = {ActivityStatus.HELD: "已召开", ActivityStatus.PLANNED: "计划中", ActivityStatus.CANCELLED: "已取消"}
KIND_HEADERS = ("活动类型", *STATUS_NAMES.values())  # the per-kind counts under the requirements on 汇总
MET, UNMET, ONGOING, NOT_STARTED, NOT_APPLICABLE = "达标", "未达标", "进行中", "未开始", "不适用"
RECORDED_AFTER = "补录"
SECRETARY_MARK = "（书记）"
BRANCH_SCOPE = "本支部"
NAME_SEPARATOR = "、"
FILENAME = "{branch}_台账_{code}.{ext}"

PERIOD_FORMAT = "看不懂统计期「{text}」"
NO_SUCH_QUARTER = "没有第{quarter}季度，季度请写 Q1 到 Q4"
NO_SUCH_MONTH = "没有{month}月，月份请写 1 到 12"

MAX_CELL_CHARS = 32767  # Excel's limit for one cell
_CSV_FORMULA_START = ("=", "+", "-", "@")  # Excel runs a CSV cell starting with these as a formula
_UNSAFE_FILENAME = re.compile(r'[\\/:*?"<>|\s]+')
_QUARTER = re.compile(r"(?P<year>\d{4})[Qq](?P<quarter>\d)")
_MONTH = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})")
_YEAR = re.compile(r"(?P<year>\d{4})")
_BOLD = Font(bold=True)
_KIND_ORDER = list(ActivityKind)


# --- periods -------------------------------------------------------------------------------------------------------

_MONTHS = {Period.MONTH: 1, Period.QUARTER: 3, Period.YEAR: 12}


@dataclass(frozen=True, slots=True)
class LedgerPeriod:
    """A calendar month, quarter or year: ``[start, end)`` in local days, its code (2026Q4) and Chinese label."""

    unit: Period
    start: date

    @property
    def end(self) -> date:
        return period_bounds(self.unit, self.start)[1]

    @property
    def code(self) -> str:
        if self.unit is Period.MONTH:
            return f"{self.start.year}-{self.start.month:02d}"
        if self.unit is Period.QUARTER:
            return f"{self.start.year}Q{(self.start.month - 1) // 3 + 1}"
        return str(self.start.year)

    @property
    def label(self) -> str:
        return period_label(self.unit, self.start)

    @classmethod
    def containing(cls, unit: Period, day: date) -> LedgerPeriod:
        return cls(unit, period_bounds(unit, day)[0])


def parse_period(text: str) -> LedgerPeriod:
    """``2026Q4``, ``2026-11`` or ``2026`` (full-width digits too); ValueError with a short Chinese reason."""
    code = unicodedata.normalize("NFKC", text).strip()
    if match := _QUARTER.fullmatch(code):
        quarter = int(match["quarter"])
        if not 1 <= quarter <= 4:
            raise ValueError(NO_SUCH_QUARTER.format(quarter=quarter))
        return LedgerPeriod(Period.QUARTER, date(int(match["year"]), quarter * 3 - 2, 1))
    if match := _MONTH.fullmatch(code):
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise ValueError(NO_SUCH_MONTH.format(month=month))
        return LedgerPeriod(Period.MONTH, date(int(match["year"]), month, 1))
    if match := _YEAR.fullmatch(code):
        return LedgerPeriod(Period.YEAR, date(int(match["year"]), 1, 1))
    raise ValueError(PERIOD_FORMAT.format(text=text.strip()))


def _sub_periods(unit: Period, period: LedgerPeriod) -> list[date]:
    """First days of the ``unit`` periods a requirement is checked over within the ledger period."""
    step = _MONTHS[unit]
    if step > _MONTHS[period.unit]:
        return [period_bounds(unit, period.start)[0]]
    first = period.start.year * 12 + period.start.month - 1
    return [date(m // 12, m % 12 + 1, 1) for m in range(first, first + _MONTHS[period.unit], step)]


# --- the ledger ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class LedgerRow:
    """One activity as the ledger shows it (times in the branch's timezone)."""

    activity: Activity
    kinds: tuple[ActivityKind, ...]
    starts_at: datetime
    ends_at: datetime | None
    party_group: str
    expected: int
    present: list[str] = field(default_factory=list)
    on_leave: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.activity.status == ActivityStatus.HELD


@dataclass(frozen=True, slots=True)
class ComplianceLine:
    requirement: Requirement
    period_label: str
    scope: str
    minimum: int
    held: int
    state: str


@dataclass(frozen=True, slots=True)
class Ledger:
    branch_name: str
    period: LedgerPeriod
    rows: list[LedgerRow]
    compliance: list[ComplianceLine]


async def load_ledger(session: AsyncSession, branch_id: int, period: LedgerPeriod | None, now: datetime) -> Ledger:
    """Everything the 台账 shows (None: the current quarter), in six small queries; activities are read for the
    whole year, which the yearly requirements need."""
    branch = await session.get(Branch, branch_id)
    if branch is None:
        raise LookupError(f"no branch {branch_id}")
    zone = branch_timezone(branch)
    today = now.astimezone(zone).date()
    if period is None:
        period = LedgerPeriod.containing(Period.QUARTER, today)
    members = await current_roster(session, branch_id)
    groups = await party_groups(session, branch_id)
    requirements = await branch_requirements(session, branch_id)

    year_start, year_end = period_bounds(Period.YEAR, period.start)
    since, until = utc_bounds(year_start, year_end, zone)
    result = await session.execute(
        select(Activity, ActivityKindLink.kind)
        .outerjoin(ActivityKindLink, ActivityKindLink.activity_id == Activity.id)
        .where(Activity.branch_id == branch_id, Activity.starts_at >= since, Activity.starts_at < until)
        .order_by(Activity.starts_at, Activity.id)
    )
    kinds_of: dict[int, list[str]] = {}
    activities: dict[int, Activity] = {}
    for activity, linked_kind in result.all():
        assert activity.id is not None
        activities[activity.id] = activity
        kinds = kinds_of.setdefault(activity.id, [activity.kind])
        if linked_kind is not None and linked_kind not in kinds:
            kinds.append(linked_kind)

    held = [
        held_activity(a.starts_at, kinds_of[i], a.party_group_id, a.lecturer_is_secretary, zone)
        for i, a in activities.items()
        if a.status == ActivityStatus.HELD
    ]
    rows: dict[int, LedgerRow] = {}
    for activity_id, activity in activities.items():
        starts_at = activity.starts_at.astimezone(zone)
        if period.start <= starts_at.date() < period.end:
            rows[activity_id] = LedgerRow(
                activity=activity,
                kinds=tuple(sorted((ActivityKind(k) for k in kinds_of[activity_id]), key=_KIND_ORDER.index)),
                starts_at=starts_at,
                ends_at=activity.ends_at.astimezone(zone) if activity.ends_at else None,
                party_group=groups.get(activity.party_group_id, "") if activity.party_group_id else "",
                expected=0,
            )
    rosters = await held_rosters(session, [row.activity for row in rows.values()])
    await _fill_attendance(session, branch_id, utc_bounds(period.start, period.end, zone), rows, members, rosters)
    return Ledger(
        branch_name=branch.name,
        period=period,
        rows=list(rows.values()),
        compliance=_compliance(requirements, held, period, today, groups),
    )


async def _fill_attendance(
    session: AsyncSession,
    branch_id: int,
    between: tuple[datetime, datetime],
    rows: dict[int, LedgerRow],
    members: Sequence[Member],
    rosters: dict[int, list[Member]],
) -> None:
    """Names and counts of each row; ``rosters`` (held activities' recorded rosters) take the place of
    ``members`` (today's) where there is one."""
    since, until = between
    result = await session.execute(
        select(
            Attendance.activity_id,
            Attendance.member_id,
            Member.name,
            Attendance.status,
            Attendance.leave_reason,
            Attendance.leave_note,
        )
        .join(Member, Member.id == Attendance.member_id)
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(Activity.branch_id == branch_id, Activity.starts_at >= since, Activity.starts_at < until)
        .order_by(Attendance.member_id)
    )
    recorded: dict[int, set[int]] = {activity_id: set() for activity_id in rows}
    marked_absent: dict[int, list[tuple[int, str]]] = {activity_id: [] for activity_id in rows}
    for activity_id, member_id, name, status, reason, note in result.all():
        row = rows[activity_id]
        recorded[activity_id].add(member_id)
        if status == AttendanceStatus.PRESENT:
            row.present.append(name)
        elif status == AttendanceStatus.LEAVE:
            row.on_leave.append(_leave_text(name, reason, note))
        else:
            marked_absent[activity_id].append((member_id, name))
    for activity_id, row in rows.items():
        roster = rosters.get(activity_id, members)
        expected = expected_members(ActivityKind(row.activity.kind), roster, row.activity.party_group_id)
        row.expected = len(expected)
        if row.held:
            unrecorded = [(m.id or 0, m.name) for m in expected if m.id not in recorded[activity_id]]
            row.absent = [name for _, name in sorted(unrecorded + marked_absent[activity_id])]


def _leave_text(name: str, reason: str | None, note: str | None) -> str:
    because = "：".join(part for part in (reason, note) if part)
    return f"{name}（{because}）" if because else name


def _compliance(
    requirements: Iterable[Requirement],
    held: Sequence[HeldActivity],
    period: LedgerPeriod,
    today: date,
    groups: dict[int, str],
) -> list[ComplianceLine]:
    lines: list[ComplianceLine] = []
    for requirement in requirements:
        for start in _sub_periods(requirement.period, period):
            for line in evaluate([requirement], held, start, groups):
                if not line.applicable:
                    state = NOT_APPLICABLE
                elif line.met:
                    state = MET
                elif line.period_end <= today:
                    state = UNMET
                else:
                    state = ONGOING if line.period_start <= today else NOT_STARTED
                lines.append(ComplianceLine(requirement, line.period_label, line.scope, line.minimum, line.held, state))
    return lines


# --- rendering -------------------------------------------------------------------------------------------------------


class LedgerFormat(StrEnum):
    XLSX = "xlsx"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class LedgerFile:
    filename: str
    content: bytes
    period_label: str
    activities: int


def _row_values(number: int, row: LedgerRow) -> list[str | int]:
    """One activity's cells, in COLUMNS order (texts cut to what one Excel cell holds)."""
    activity = row.activity
    when = row.starts_at.strftime("%H:%M") + (f"–{row.ends_at:%H:%M}" if row.ends_at else "")
    lecturer = activity.lecturer + (SECRETARY_MARK if activity.lecturer and activity.lecturer_is_secretary else "")
    return [
        number,
        f"{row.starts_at:%Y-%m-%d} {WEEKDAY_NAMES[row.starts_at.weekday()]}",
        when,
        NAME_SEPARATOR.join(row.kinds),
        row.party_group,
        activity.topic,
        activity.place,
        lecturer,
        STATUS_NAMES[ActivityStatus(activity.status)],
        row.expected,
        len(row.present),
        len(row.on_leave),
        len(row.absent) if row.held else "",
        NAME_SEPARATOR.join(row.present),
        NAME_SEPARATOR.join(row.on_leave),
        NAME_SEPARATOR.join(row.absent),
        (activity.minutes or "")[:MAX_CELL_CHARS],
        RECORDED_AFTER if activity.recorded_after else "",
    ]


def _sheet(workbook: Workbook, title: str, columns: Sequence[tuple[str, int]]) -> WriteOnlyWorksheet:
    """A sheet with a bold, frozen header row and the columns' widths."""
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "A2"
    for index, (_, width) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    _append_header(sheet, [header for header, _ in columns])
    return sheet


def _append_header(sheet: WriteOnlyWorksheet, headers: Iterable[str]) -> None:
    cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=header)
        cell.font = _BOLD
        cells.append(cell)
    sheet.append(cells)


def _append(sheet: WriteOnlyWorksheet, values: Iterable[str | int]) -> None:
    """A data row; text is scrubbed (text_hygiene.export_cell: old rows may hold characters XLSX refuses), and
    text starting with "=" stays text (openpyxl would store it as a formula)."""
    cells: list[object] = []
    for value in values:
        if isinstance(value, str):
            value = export_cell(value)
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            cells.append(cell)
        else:
            cells.append(value)
    sheet.append(cells)


def ledger_xlsx(ledger: Ledger) -> bytes:
    workbook = Workbook(write_only=True)
    summary = _sheet(workbook, SUMMARY_SHEET, COMPLIANCE_COLUMNS)
    for line in ledger.compliance:
        requirement = line.requirement
        values = [requirement.label, line.period_label, line.scope, line.minimum, line.held, line.state]
        _append(summary, [*values, requirement.basis])
    summary.append([])
    _append_header(summary, KIND_HEADERS)
    for kind in ActivityKind:
        statuses = [row.activity.status for row in ledger.rows if kind in row.kinds]
        summary.append([kind.value, *(statuses.count(status.value) for status in STATUS_NAMES)])
    for kind in ActivityKind:
        sheet = _sheet(workbook, kind.value, COLUMNS)
        for number, row in enumerate((r for r in ledger.rows if kind in r.kinds), start=1):
            _append(sheet, _row_values(number, row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _csv_cell(value: str | int) -> str | int:
    """Scrubbed text (as in the XLSX); and OWASP's CSV-injection advice: text Excel would run as a formula gets a
    leading apostrophe."""
    if not isinstance(value, str):
        return value
    value = export_cell(value)
    return f"'{value}" if value.startswith(_CSV_FORMULA_START) else value


def ledger_csv(ledger: Ledger) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header for header, _ in COLUMNS)
    for number, row in enumerate(ledger.rows, start=1):
        writer.writerow(_csv_cell(value) for value in _row_values(number, row))
    return buffer.getvalue().encode("utf-8-sig")


def render_ledger(ledger: Ledger, fmt: LedgerFormat) -> LedgerFile:
    content = ledger_xlsx(ledger) if fmt is LedgerFormat.XLSX else ledger_csv(ledger)
    branch = _UNSAFE_FILENAME.sub("_", ledger.branch_name).strip("_") or "支部"
    filename = FILENAME.format(branch=branch, code=ledger.period.code, ext=fmt.value)
    return LedgerFile(filename, content, ledger.period.label, len(ledger.rows))


async def export_ledger(
    session: AsyncSession, branch_id: int, period: LedgerPeriod | None, now: datetime, fmt: LedgerFormat
) -> LedgerFile:
    """The 台账 file for ``period`` (None: the current quarter in the branch's timezone); building the file runs
    in a thread so the bot keeps answering meanwhile."""
    ledger = await load_ledger(session, branch_id, period, now)
    return await asyncio.to_thread(render_ledger, ledger, fmt)
