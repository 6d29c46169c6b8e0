"""主题党日 rules: read what a secretary types ("每月第一个周五 提前"), store it compactly, and find each month's day.

Pure: no database, no clock. APScheduler's CronTrigger computes the calendar day of a rule (``day=15``,
``day="1st fri"``, ``day="last fri"``, ``day="last"``); China's official calendar (chinese_calendar: 法定节假日 and
the 调休 working weekends) decides what is a working day and where a day that falls on a holiday moves.

Compact form (``Branch.theme_day_rule``, at most 64 characters)::

    day:15/next        每月15日，遇节假日顺延            day:-1/prev  每月最后一天，遇节假日提前
    weekday:1:4/prev   每月第一个周五，遇节假日提前      weekday:-1:2/keep  每月最后一个周三，节假日照常
    workday:1          每月第一个工作日                  workday:-1   每月最后一个工作日

Weekdays count from Monday = 0. Moving a holiday:

* a day-of-month rule moves when the day is not a working day (weekends included: "每月15日" on a Saturday
  moves); a weekday rule naming 周六 or 周日 moves only on a statutory holiday (a branch that meets on Saturdays
  keeps its Saturdays); other weekday rules move when their day is a holiday;
* 提前 goes to the previous working day, 顺延 to the next; a move that would leave the month goes the other way
  instead, so each month keeps its own 主题党日; 照常 never moves;
* "每月31日" in a month without a 31st is that month's last day.

Years the calendar package has no data for yet (it is published each November for the next year) are treated as
Monday-to-Friday working weeks without holidays; `calendar_covers` tells callers so they can say it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import chinese_calendar
import cn2an
from apscheduler.triggers.cron import CronTrigger

# --- Chinese texts -------------------------------------------------------------------------------------------------

MSG_UNREADABLE = (
    "没看懂这个主题党日规则。可以这样写：每月15日、每月第一个周五、每月最后一个周三、每月最后一个工作日；"
    "遇节假日的日子默认顺延，也可以加上「提前」或「照常」，例如：每月第一个周五 提前"
)
MSG_NO_SUCH_DAY = "每月的日子应在1日到31日之间。"
MSG_NTH_TOO_LARGE = "不是每个月都有第五个{weekday}，请改用「每月最后一个{weekday}」。"
MSG_NTH_WORKDAY_TOO_LARGE = "工作日请选每月第1到第{limit}个，或「每月最后一个工作日」。"
MSG_SHIFT_CONFLICT = "「提前」「顺延」「照常」只能选一个。"

WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_SHIFT_TEXT = {"prev": "遇节假日提前到前一个工作日", "next": "遇节假日顺延到下一个工作日", "keep": "遇节假日照常"}
_MOVE_TEXT = {"prev": "提前", "next": "顺延"}
_REST_DAY = "遇休息日"
_LAST_DAY = "最后一天"
_LAST = "最后一个"
_WORKDAY = "工作日"
_EVERY_MONTH = "每月"

# --- Vocabulary ----------------------------------------------------------------------------------------------------

MAX_NTH_WEEKDAY = 4
MAX_NTH_WORKDAY = 10
_CRON_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRON_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th"}
_SATURDAY = 5


class Shift(StrEnum):
    """Where a 主题党日 that falls on a holiday goes."""

    EARLIER = "prev"  # 提前
    LATER = "next"  # 顺延 (the default)
    KEEP = "keep"  # 照常


class RuleKind(StrEnum):
    DAY = "day"  # the n-th day of the month (-1: the last)
    WEEKDAY = "weekday"  # the n-th given weekday (-1: the last)
    WORKDAY = "workday"  # the n-th working day (-1: the last)


class ThemeDayRuleError(ValueError):
    """The text is not a rule we understand; ``str(exc)`` is the Chinese explanation."""


# --- Working days --------------------------------------------------------------------------------------------------


def calendar_covers(year: int) -> bool:
    """Whether China's official holiday calendar for ``year`` is known (else weekdays stand in for working days)."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def is_workday(day: date) -> bool:
    """A working day by China's official calendar (调休 weekends included); Monday–Friday where it has no data."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < _SATURDAY


def holiday_name(day: date) -> str | None:
    """The Chinese name of the statutory holiday ``day`` belongs to (国庆节, 春节 …), None on other days."""
    try:
        rest, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    if not rest or name is None:
        return None
    for holiday in chinese_calendar.Holiday:
        if holiday.value == name:
            return str(holiday.chinese)
    return str(name)


# --- The rule ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThemeDay:
    """A month's 主题党日: ``day``, and the day the rule names before any holiday move (``planned``)."""

    day: date
    planned: date
    holiday: str | None = None  # why it moved

    @property
    def moved(self) -> bool:
        return self.day != self.planned


@dataclass(frozen=True, slots=True)
class ThemeDayRule:
    kind: RuleKind
    ordinal: int  # day of month 1–31 | n-th weekday 1–4 | n-th working day 1–10; -1 is the last
    weekday: int | None = None  # Monday = 0; WEEKDAY rules only
    shift: Shift = Shift.LATER  # not used by WORKDAY rules (they are working days already)

    @property
    def compact(self) -> str:
        """The stored form (see the module docstring)."""
        if self.kind is RuleKind.WORKDAY:
            return f"workday:{self.ordinal}"
        if self.kind is RuleKind.WEEKDAY:
            return f"weekday:{self.ordinal}:{self.weekday}/{self.shift}"
        return f"day:{self.ordinal}/{self.shift}"

    def describe(self) -> str:
        """In Chinese: 每月第一个周五（遇节假日顺延到下一个工作日）."""
        if self.kind is RuleKind.WORKDAY:
            return f"{_EVERY_MONTH}{_ordinal_text(self.ordinal)}{_WORKDAY}"
        if self.kind is RuleKind.WEEKDAY:
            base = f"{_EVERY_MONTH}{_ordinal_text(self.ordinal)}{WEEKDAY_NAMES[self.weekday or 0]}"
        else:
            base = f"{_EVERY_MONTH}{_LAST_DAY if self.ordinal == -1 else f'{self.ordinal}日'}"
        return f"{base}（{_SHIFT_TEXT[self.shift]}）"

    def in_month(self, year: int, month: int) -> ThemeDay:
        """The 主题党日 of a month, after any holiday move."""
        return _theme_day_in(self, year, month)

    def next_days(self, after: date, count: int) -> list[ThemeDay]:
        """The next ``count`` 主题党日 on or after ``after``."""
        found: list[ThemeDay] = []
        year, month = after.year, after.month
        while len(found) < count:
            theme_day = self.in_month(year, month)
            if theme_day.day >= after:
                found.append(theme_day)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found

    def calendar_day(self, year: int, month: int) -> date:
        """The day the rule names in a month, before any holiday move."""
        if self.kind is RuleKind.WORKDAY:
            return _nth_workday(year, month, self.ordinal)
        if self.kind is RuleKind.WEEKDAY:
            which = "last" if self.ordinal == -1 else _CRON_ORDINALS[self.ordinal]
            return _cron_day(year, month, f"{which} {_CRON_WEEKDAYS[self.weekday or 0]}")
        last = _cron_day(year, month, "last")
        return last if self.ordinal == -1 or self.ordinal > last.day else date(year, month, self.ordinal)

    def must_move(self, day: date) -> bool:
        """Whether the rule's day has to move off ``day`` (see the module docstring)."""
        if self.kind is RuleKind.WEEKDAY and (self.weekday or 0) >= _SATURDAY:
            return holiday_name(day) is not None
        return not is_workday(day)


@functools.lru_cache(maxsize=4096)
def _theme_day_in(rule: ThemeDayRule, year: int, month: int) -> ThemeDay:
    """`ThemeDayRule.in_month`, remembered: the planner asks for the same few months on every pass."""
    planned = rule.calendar_day(year, month)
    if rule.kind is RuleKind.WORKDAY or rule.shift is Shift.KEEP or not rule.must_move(planned):
        return ThemeDay(planned, planned)
    order = (-1, 1) if rule.shift is Shift.EARLIER else (1, -1)
    for step in order:
        moved = _next_workday(planned, step)
        if moved.month == month:
            return ThemeDay(moved, planned, holiday_name(planned))
    return ThemeDay(planned, planned)


def _cron_day(year: int, month: int, day: str) -> date:
    """The first day of the month that APScheduler's cron ``day`` expression matches."""
    trigger = CronTrigger(year=year, month=month, day=day, hour=0, minute=0, timezone=UTC)
    fire = trigger.get_next_fire_time(None, datetime(year, month, 1, tzinfo=UTC))
    if fire is None or fire.month != month:
        raise ValueError(f"cron day {day!r} does not occur in {year}-{month:02d}")
    return fire.date()


def _next_workday(day: date, step: int) -> date:
    moved = day + timedelta(days=step)
    while not is_workday(moved):
        moved += timedelta(days=step)
    return moved


def _nth_workday(year: int, month: int, ordinal: int) -> date:
    if ordinal == -1:
        last = _cron_day(year, month, "last")
        return last if is_workday(last) else _next_workday(last, -1)
    first = date(year, month, 1)
    day = first if is_workday(first) else _next_workday(first, 1)
    for _ in range(ordinal - 1):
        day = _next_workday(day, 1)
    return day


def _ordinal_text(ordinal: int) -> str:
    return _LAST if ordinal == -1 else f"第{cn2an.an2cn(ordinal)}个"


# --- Stored form ---------------------------------------------------------------------------------------------------

_COMPACT = re.compile(
    r"^(?:day:(?P<day>-1|[1-9]|[12]\d|3[01])/(?P<day_shift>prev|next|keep)"
    r"|weekday:(?P<nth>-1|[1-4]):(?P<weekday>[0-6])/(?P<weekday_shift>prev|next|keep)"
    r"|workday:(?P<workday>-1|[1-9]|10))$"
)


def from_compact(stored: str) -> ThemeDayRule:
    """The rule behind a stored ``Branch.theme_day_rule``; ValueError if it is not one."""
    match = _COMPACT.match(stored.strip())
    if match is None:
        raise ValueError(f"not a 主题党日 rule: {stored!r}")
    if match["day"]:
        return ThemeDayRule(RuleKind.DAY, int(match["day"]), shift=Shift(match["day_shift"]))
    if match["nth"]:
        return ThemeDayRule(
            RuleKind.WEEKDAY, int(match["nth"]), int(match["weekday"]), shift=Shift(match["weekday_shift"])
        )
    return ThemeDayRule(RuleKind.WORKDAY, int(match["workday"]))


# --- What people type ----------------------------------------------------------------------------------------------

_NUMBER = r"\d{1,2}|[一二两三四五六七八九十]{1,3}"
_WEEK_WORD = r"(?:周|星期|礼拜)"
_WEEKDAY_CHARS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6} | {
    str(i + 1): i for i in range(7)
}
_ORDINAL = rf"(?:第(?P<nth>{_NUMBER})|(?P<first>首|头一)|(?P<last>最后一?|倒数第一))个?"
_DAY_OF_MONTH = re.compile(rf"^(?:每个?月的?)?(?P<day>{_NUMBER})[日号]$")
_LAST_DAY_OF_MONTH = re.compile(r"^(?:每个?月的?)?最后一天$")
_NTH_WEEKDAY = re.compile(rf"^(?:每个?月的?)?{_ORDINAL}{_WEEK_WORD}(?P<weekday>[一二三四五六日天1-7])$")
_NTH_WORKDAY = re.compile(rf"^(?:每个?月的?)?{_ORDINAL}工作日$")
# Checked in this order, each found word taken out before the next ("不顺延" is 照常, not 顺延).
_SHIFT_WORDS = {
    Shift.KEEP: ("不调整", "不顺延", "不提前", "不变", "照常"),
    Shift.EARLIER: ("提前",),
    Shift.LATER: ("顺延", "延后", "推迟", "后延"),
}
_NOISE = re.compile(r"[\s,，、;；。（）()]|遇到?|节假日|假日|法定|的话|则|就")
_NORMALIZE = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | {"號": "号", "週": "周", "禮": "礼"})


def parse_rule(text: str) -> ThemeDayRule:
    """Read a rule as typed: 每月15日 / 每月第一个周五 / 每月最后一个工作日 / 每月第2个周三 提前 …"""
    normalized = text.translate(_NORMALIZE)
    shifts = []
    for shift, words in _SHIFT_WORDS.items():
        for word in words:
            if word in normalized:
                normalized = normalized.replace(word, "")
                shifts.append(shift)
    if len(set(shifts)) > 1:
        raise ThemeDayRuleError(MSG_SHIFT_CONFLICT)
    shift = shifts[0] if shifts else Shift.LATER
    core = _NOISE.sub("", normalized)
    if match := _DAY_OF_MONTH.match(core):
        day = _number(match["day"])
        if not 1 <= day <= 31:
            raise ThemeDayRuleError(MSG_NO_SUCH_DAY)
        return ThemeDayRule(RuleKind.DAY, day, shift=shift)
    if _LAST_DAY_OF_MONTH.match(core):
        return ThemeDayRule(RuleKind.DAY, -1, shift=shift)
    if match := _NTH_WEEKDAY.match(core):
        weekday = _WEEKDAY_CHARS[match["weekday"]]
        nth = _nth(match)
        if nth > MAX_NTH_WEEKDAY:
            raise ThemeDayRuleError(MSG_NTH_TOO_LARGE.format(weekday=WEEKDAY_NAMES[weekday]))
        return ThemeDayRule(RuleKind.WEEKDAY, nth, weekday, shift=shift)
    if match := _NTH_WORKDAY.match(core):
        nth = _nth(match)
        if nth > MAX_NTH_WORKDAY:
            raise ThemeDayRuleError(MSG_NTH_WORKDAY_TOO_LARGE.format(limit=MAX_NTH_WORKDAY))
        return ThemeDayRule(RuleKind.WORKDAY, nth)
    raise ThemeDayRuleError(MSG_UNREADABLE)


def _nth(match: re.Match[str]) -> int:
    if match["last"]:
        return -1
    if match["first"]:
        return 1
    nth = _number(match["nth"])
    if nth < 1:
        raise ThemeDayRuleError(MSG_UNREADABLE)
    return nth


def _number(token: str) -> int:
    if token.isdigit():
        return int(token)
    try:
        return int(cn2an.cn2an(token.replace("两", "二"), "smart"))
    except ValueError as exc:
        raise ThemeDayRuleError(MSG_UNREADABLE) from exc


def move_text(theme_day: ThemeDay) -> str:
    """Why the day is not the rule's own day, e.g. 原定10月2日，遇国庆节顺延; empty when it did not move.

    The direction is read from the dates: a move that would have left the month went the other way.
    """
    if not theme_day.moved:
        return ""
    reason = f"遇{theme_day.holiday}" if theme_day.holiday else _REST_DAY
    direction = _MOVE_TEXT[Shift.EARLIER if theme_day.day < theme_day.planned else Shift.LATER]
    return f"原定{theme_day.planned.month}月{theme_day.planned.day}日，{reason}{direction}"
