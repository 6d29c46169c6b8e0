"""What a branch owes per period (the requirements table) and how far it has got (pure evaluation).

One declarative table, ``REQUIREMENTS``, drives ``/progress``, the compliance reminders and the export. Everything
here is plain data in, plain data out: no database, no Telegram, no clock (callers pass ``today`` in the branch's
timezone).

Counting rules:

* An activity counts in the period (month, quarter or year) that contains its date; periods are half-open
  ``[start, end)``.
* An activity may be of several kinds at once (a 主题党日 that includes a 党员大会 and a 党课); it counts once for
  each requirement whose kind it has, and each requirement is still checked against its own minimum.
* Branch-level requirements count every activity of their kind, whichever 党小组 it was recorded for.
* Per-党小组 requirements (党小组会) count, for each 党小组, only activities recorded for that 党小组. A branch
  that has not been divided into 党小组 (条例 第十三条 asks for them only where a branch has many or scattered
  members) gets one branch-level line marked not applicable instead: it tells the secretary why no 党小组会 is
  expected, it is never "unmet", and it never causes a reminder.
* 书记讲党课 counts only 党课 whose lecturer is the branch secretary. It is a local rule, not the 条例's: 条例
  第十六条 asks the 党委（党组）书记 (and leading cadres) to lecture. Its label (/require, the export) is marked
  地方做法, its basis says what the 条例 asks instead, and /progress explains it in a footnote. It is still counted,
  overridable only upwards and reminded like any other requirement.

Reminders (``unmet_due``): a requirement that is still unmet is due for a reminder when the days left in its
period (counting today) equal one of ``remind_days_before``. A requirement with ``active_from_month`` (组织生活会
and 民主评议党员, usually held in the fourth quarter) is still counted all year, but its reminders start on the
first day of that month: it is also due on that day, and never earlier in the year.

A branch may set stricter local numbers with ``apply_overrides``; a weaker number is refused, never applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from bot.models import ActivityKind


class Period(StrEnum):
    """The period a requirement is counted over."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


# --- Chinese texts -------------------------------------------------------------------------------------------------

_KIND_ALIASES: dict[str, ActivityKind] = {
    "党员大会": ActivityKind.MEMBERS_MEETING,
    "支部大会": ActivityKind.MEMBERS_MEETING,
    "支部委员会会议": ActivityKind.COMMITTEE_MEETING,
    "支部委员会": ActivityKind.COMMITTEE_MEETING,
    "支委会议": ActivityKind.COMMITTEE_MEETING,
    "小组会": ActivityKind.PARTY_GROUP_MEETING,
    "党小组会议": ActivityKind.PARTY_GROUP_MEETING,
    "党日": ActivityKind.THEME_DAY,
    "党日活动": ActivityKind.THEME_DAY,
    "主题党日活动": ActivityKind.THEME_DAY,
    "民主评议": ActivityKind.DEMOCRATIC_APPRAISAL,
    "其它": ActivityKind.OTHER,
}

_QUARTER_NAMES = ("第一季度", "第二季度", "第三季度", "第四季度")
_PERIOD_EVERY = {Period.MONTH: "每月", Period.QUARTER: "每季度", Period.YEAR: "每年"}
_PERIOD_UNIT = {Period.MONTH: "月", Period.QUARTER: "季度", Period.YEAR: "年"}
_PERIOD_HEADING = {Period.MONTH: "本月", Period.QUARTER: "本季度", Period.YEAR: "本年度"}

_BRANCH_SCOPE = "本支部"
_PER_GROUP = "每个党小组"
_NO_GROUPS = "本支部未划分党小组，不适用"
_MET_MARK = "✅"
_UNMET_MARK = "⚠️"
_NOT_APPLICABLE_MARK = "➖"
_GROUP_INDENT = "\u3000\u3000"
_TITLE = "📋 组织生活进度"
_NOTHING_TO_CHECK = "没有需要检查的要求。"
_LOCAL_PRACTICE_NOTE = "注：{name}按{unit}是多数地方的做法，以上级要求为准。"
_LOCAL_RULE_NOTE = "注：{name}是地方做法，{why}。以上级要求为准。"
_LOCAL_RULE_MARK = "（地方做法）"
_SECRETARY_LECTURE_WHY = "不是条例原文；条例第十六条要求的是党委（党组）书记每年至少讲1次党课"
_OVERRIDE_UNKNOWN = "没有这一项要求：{key}。可以设置的有：{known}"
_OVERRIDE_WEAKER = "本地要求不能低于统一要求：{label}，不能改为{value}次。"

_REGULATIONS = "《中国共产党支部工作条例（试行）》"


# --- Periods -------------------------------------------------------------------------------------------------------


def _month_start(year: int, month: int) -> date:
    """First day of a month given as (year, month) where month may run past 12."""
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def period_bounds(period: Period, on: date) -> tuple[date, date]:
    """The period containing ``on``: inclusive start, exclusive end."""
    if period is Period.MONTH:
        first_month = on.month
        length = 1
    elif period is Period.QUARTER:
        first_month = (on.month - 1) // 3 * 3 + 1
        length = 3
    else:
        first_month = 1
        length = 12
    return _month_start(on.year, first_month), _month_start(on.year, first_month + length)


def period_label(period: Period, on: date) -> str:
    """The period containing ``on`` in Chinese: 2026年11月 / 2026年第四季度 / 2026年."""
    if period is Period.MONTH:
        return f"{on.year}年{on.month}月"
    if period is Period.QUARTER:
        return f"{on.year}年{_QUARTER_NAMES[(on.month - 1) // 3]}"
    return f"{on.year}年"


# --- Kinds ---------------------------------------------------------------------------------------------------------


def parse_kind(text: str) -> ActivityKind | None:
    """An activity kind from its name or a common alias (党员大会, 支委会议, 党日 …); None if not recognised."""
    name = "".join(text.split())
    try:
        return ActivityKind(name)
    except ValueError:
        return _KIND_ALIASES.get(name)


# --- The table -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldActivity:
    """One activity that was held, as the evaluation needs it."""

    kinds: frozenset[ActivityKind]
    held_on: date
    party_group_id: int | None = None
    lecturer_is_secretary: bool = False


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a branch owes: at least ``minimum`` activities of ``kind`` per ``period`` (per 党小组 if so marked).

    ``name`` is the short Chinese name shown in progress lines; ``basis`` the document and article it rests on;
    ``local_practice`` marks a number that comes from common local rules rather than the central regulations;
    ``local_rule`` goes further: the requirement itself is a local rule, and the text says why (the label is marked
    地方做法 and the /progress footnote gives the reason); it implies ``local_practice``;
    ``active_from_month`` only delays reminders (the requirement is counted all year); ``remind_days_before`` are
    the days left (counting today) at which an unmet requirement is reminded about.
    """

    key: str
    name: str
    kind: ActivityKind
    period: Period
    minimum: int
    basis: str
    per_party_group: bool = False
    lecturer_must_be_secretary: bool = False
    local_practice: bool = False
    local_rule: str | None = None
    active_from_month: int | None = None
    remind_days_before: tuple[int, ...] = (7, 2)

    def __post_init__(self) -> None:
        if self.local_rule is not None and not self.local_practice:
            raise ValueError(f"{self.key}: a local rule is also local practice")
        if self.active_from_month is not None and (
            self.period is not Period.YEAR or not 1 <= self.active_from_month <= 12
        ):
            raise ValueError(f"{self.key}: active_from_month needs a yearly requirement and a month 1-12")

    @property
    def label(self) -> str:
        """E.g. 支委会 每月至少1次; 党小组会 每个党小组每月至少1次; 书记讲党课（地方做法）每年至少1次."""
        scope = _PER_GROUP if self.per_party_group else ""
        head = f"{self.name} " if self.local_rule is None else f"{self.name}{_LOCAL_RULE_MARK}"  # ） needs no space
        return f"{head}{scope}{_PERIOD_EVERY[self.period]}至少{self.minimum}次"

    def counts(self, activity: HeldActivity) -> bool:
        """Whether the activity is of this requirement's kind (and, for 书记讲党课, lectured by the secretary)."""
        if self.kind not in activity.kinds:
            return False
        return activity.lecturer_is_secretary or not self.lecturer_must_be_secretary


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(
        key="members_meeting",
        name="支部党员大会",
        kind=ActivityKind.MEMBERS_MEETING,
        period=Period.QUARTER,
        minimum=1,
        basis=f"{_REGULATIONS}第十一条",
    ),
    Requirement(
        key="committee_meeting",
        name="支委会",
        kind=ActivityKind.COMMITTEE_MEETING,
        period=Period.MONTH,
        minimum=1,
        basis=f"{_REGULATIONS}第十二条",
    ),
    Requirement(
        key="party_group_meeting",
        name="党小组会",
        kind=ActivityKind.PARTY_GROUP_MEETING,
        period=Period.MONTH,
        minimum=1,
        basis=f"{_REGULATIONS}第十三条",
        per_party_group=True,
    ),
    Requirement(
        key="party_lecture",
        name="党课",
        kind=ActivityKind.PARTY_LECTURE,
        period=Period.QUARTER,
        minimum=1,
        basis=f"{_REGULATIONS}第十六条要求按期上党课，未写明次数；每季度1次是多数地方的规定",
        local_practice=True,
    ),
    Requirement(
        key="secretary_lecture",
        name="书记讲党课",
        kind=ActivityKind.PARTY_LECTURE,
        period=Period.YEAR,
        minimum=1,
        basis=f"地方做法（多数地方和单位的制度）；{_REGULATIONS}第十六条要求的是党委（党组）书记每年至少讲1次党课",
        lecturer_must_be_secretary=True,
        local_practice=True,
        local_rule=_SECRETARY_LECTURE_WHY,
    ),
    Requirement(
        key="theme_day",
        name="主题党日",
        kind=ActivityKind.THEME_DAY,
        period=Period.MONTH,
        minimum=1,
        basis=f"{_REGULATIONS}第十六条",
    ),
    Requirement(
        key="organizational_life_meeting",
        name="组织生活会",
        kind=ActivityKind.ORGANIZATIONAL_LIFE_MEETING,
        period=Period.YEAR,
        minimum=1,
        basis=f"{_REGULATIONS}第十七条（一般在第四季度召开）",
        active_from_month=11,
    ),
    Requirement(
        key="democratic_appraisal",
        name="民主评议党员",
        kind=ActivityKind.DEMOCRATIC_APPRAISAL,
        period=Period.YEAR,
        minimum=1,
        basis=f"{_REGULATIONS}第十八条（条号待核）",
        active_from_month=11,
    ),
)


def apply_overrides(base: Iterable[Requirement], overrides: Mapping[str, int]) -> tuple[Requirement, ...]:
    """The table with a branch's stricter local minimums; an unknown key or a weaker number raises ValueError."""
    requirements = tuple(base)
    by_key = {requirement.key: requirement for requirement in requirements}
    for key, value in overrides.items():
        if key not in by_key:
            raise ValueError(_OVERRIDE_UNKNOWN.format(key=key, known="、".join(by_key)))
        if value < by_key[key].minimum:
            raise ValueError(_OVERRIDE_WEAKER.format(label=by_key[key].label, value=value))
    return tuple(replace(r, minimum=overrides[r.key]) if r.key in overrides else r for r in requirements)


# --- Evaluation ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProgressLine:
    """One requirement in one scope (the branch or one 党小组) for the period containing the evaluation day."""

    requirement: Requirement
    period_start: date
    period_end: date
    period_label: str
    scope: str
    party_group_id: int | None
    held: int
    minimum: int
    days_left: int
    applicable: bool = True

    @property
    def met(self) -> bool:
        """Held at least the minimum (a line that does not apply counts as met)."""
        return not self.applicable or self.held >= self.minimum


def evaluate(
    requirements: Iterable[Requirement],
    held: Iterable[HeldActivity],
    today: date,
    party_groups: Mapping[int, str],
) -> list[ProgressLine]:
    """Progress for the month, quarter and year containing ``today``, in table order, 党小组 in mapping order."""
    activities = list(held)
    lines: list[ProgressLine] = []
    for requirement in requirements:
        start, end = period_bounds(requirement.period, today)
        in_period = [a for a in activities if start <= a.held_on < end and requirement.counts(a)]
        branch_line = ProgressLine(
            requirement=requirement,
            period_start=start,
            period_end=end,
            period_label=period_label(requirement.period, today),
            scope=_BRANCH_SCOPE,
            party_group_id=None,
            held=len(in_period),
            minimum=requirement.minimum,
            days_left=(end - today).days,
        )
        if not requirement.per_party_group:
            lines.append(branch_line)
        elif not party_groups:
            lines.append(replace(branch_line, held=0, applicable=False))
        else:
            lines.extend(
                replace(
                    branch_line,
                    scope=group_name,
                    party_group_id=group_id,
                    held=sum(1 for a in in_period if a.party_group_id == group_id),
                )
                for group_id, group_name in party_groups.items()
            )
    return lines


def _reminder_due(requirement: Requirement, today: date, days_left: int) -> bool:
    if requirement.active_from_month is not None:
        if today.month < requirement.active_from_month:
            return False
        if today.month == requirement.active_from_month and today.day == 1:
            return True
    return days_left in requirement.remind_days_before


def unmet_due(
    requirements: Iterable[Requirement],
    held: Iterable[HeldActivity],
    today: date,
    party_groups: Mapping[int, str],
) -> list[ProgressLine]:
    """Unmet lines that should be reminded about today (see the module docstring for when)."""
    return [
        line
        for line in evaluate(requirements, held, today, party_groups)
        if not line.met and _reminder_due(line.requirement, today, line.days_left)
    ]


# --- Formatting ----------------------------------------------------------------------------------------------------


def _count_text(line: ProgressLine, name: str) -> str:
    mark = _MET_MARK if line.met else _UNMET_MARK
    text = f"{mark} {name} {line.held}/{line.minimum}"
    return text if line.met else f"{text}（还剩 {line.days_left} 天）"


def format_progress(lines: Iterable[ProgressLine]) -> str:
    """Chinese progress text grouped by 本月 / 本季度 / 本年度, 党小组 lines indented under their requirement."""
    items = list(lines)
    if not items:
        return _NOTHING_TO_CHECK
    out = [_TITLE]
    for period in Period:
        in_period = [line for line in items if line.requirement.period is period]
        if not in_period:
            continue
        out.append("")
        out.append(f"{_PERIOD_HEADING[period]}（{in_period[0].period_label}）")
        headed: set[str] = set()
        for line in in_period:
            requirement = line.requirement
            if not line.applicable:
                out.append(f"{_NOT_APPLICABLE_MARK} {requirement.name}：{_NO_GROUPS}")
            elif requirement.per_party_group:
                if requirement.key not in headed:
                    headed.add(requirement.key)
                    out.append(f"{requirement.name}：")
                out.append(_GROUP_INDENT + _count_text(line, line.scope))
            else:
                out.append(_count_text(line, requirement.name))
    notes = {line.requirement.key: line.requirement for line in items if line.requirement.local_practice}
    if notes:
        out.append("")
        out.extend(_local_note(r) for r in notes.values())
    return "\n".join(out)


def _local_note(requirement: Requirement) -> str:
    if requirement.local_rule is not None:
        return _LOCAL_RULE_NOTE.format(name=requirement.name, why=requirement.local_rule)
    return _LOCAL_PRACTICE_NOTE.format(name=requirement.name, unit=_PERIOD_UNIT[requirement.period])
