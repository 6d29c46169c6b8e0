"""主题党日 rules: what people type, the stored form, and the day of each month across 2026–2027 holidays."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.theme_day import (
    MSG_UNREADABLE,
    RuleKind,
    Shift,
    ThemeDayRule,
    ThemeDayRuleError,
    calendar_covers,
    from_compact,
    holiday_name,
    is_workday,
    move_text,
    parse_rule,
)


@pytest.mark.parametrize(
    ("typed", "compact", "described"),
    [
        ("每月15日", "day:15/next", "每月15日（遇节假日顺延到下一个工作日）"),
        ("每月15号", "day:15/next", "每月15日（遇节假日顺延到下一个工作日）"),
        ("每月十五日 遇节假日提前", "day:15/prev", "每月15日（遇节假日提前到前一个工作日）"),
        ("１５号", "day:15/next", "每月15日（遇节假日顺延到下一个工作日）"),
        ("每月31日 照常", "day:31/keep", "每月31日（遇节假日照常）"),
        ("每月最后一天", "day:-1/next", "每月最后一天（遇节假日顺延到下一个工作日）"),
        ("每月第一个周五", "weekday:1:4/next", "每月第一个周五（遇节假日顺延到下一个工作日）"),
        ("每月第1个星期五 提前", "weekday:1:4/prev", "每月第一个周五（遇节假日提前到前一个工作日）"),
        ("每个月的第2个周三", "weekday:2:2/next", "每月第二个周三（遇节假日顺延到下一个工作日）"),
        ("每月最后一个礼拜五", "weekday:-1:4/next", "每月最后一个周五（遇节假日顺延到下一个工作日）"),
        ("每月首个周一", "weekday:1:0/next", "每月第一个周一（遇节假日顺延到下一个工作日）"),
        ("每月第一个周六 不顺延", "weekday:1:5/keep", "每月第一个周六（遇节假日照常）"),
        ("每月第一个工作日", "workday:1", "每月第一个工作日"),
        ("每月第三个工作日", "workday:3", "每月第三个工作日"),
        ("每月最后一个工作日", "workday:-1", "每月最后一个工作日"),
    ],
)
def test_rules_as_typed(typed: str, compact: str, described: str) -> None:
    rule = parse_rule(typed)
    assert rule.compact == compact
    assert rule.describe() == described
    assert from_compact(compact) == rule
    assert len(compact) <= 64  # Branch.theme_day_rule


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("每月第五个周五", "不是每个月都有第五个周五，请改用「每月最后一个周五」。"),
        ("每月32日", "每月的日子应在1日到31日之间。"),
        ("每月0日", "每月的日子应在1日到31日之间。"),
        ("每月第十一个工作日", "工作日请选每月第1到第10个，或「每月最后一个工作日」。"),
        ("每月15日 提前 顺延", "「提前」「顺延」「照常」只能选一个。"),
        ("每周五", None),
        ("下个月", None),
        ("", None),
    ],
)
def test_rules_we_do_not_take(typed: str, message: str | None) -> None:
    with pytest.raises(ThemeDayRuleError) as refused:
        parse_rule(typed)
    assert str(refused.value) == (message or MSG_UNREADABLE)


@pytest.mark.parametrize("stored", ["", "day:0/next", "day:15", "weekday:5:4/next", "workday:11", "day:15/late"])
def test_stored_forms_that_are_not_rules(stored: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        from_compact(stored)


def _day(compact: str, year: int, month: int) -> date:
    return from_compact(compact).in_month(year, month).day


def test_national_day_2026_moves_the_first_friday() -> None:
    # 10月2日 (Friday) is in the 国庆 holiday (10月1日–7日); 10月8日 is the first working day after it.
    october = from_compact("weekday:1:4/next").in_month(2026, 10)
    assert (october.planned, october.day, october.holiday) == (date(2026, 10, 2), date(2026, 10, 8), "国庆节")
    assert move_text(october) == "原定10月2日，遇国庆节顺延"
    # 提前 would leave October (9月30日): the October 主题党日 stays in October.
    assert _day("weekday:1:4/prev", 2026, 10) == date(2026, 10, 8)
    assert _day("weekday:1:4/keep", 2026, 10) == date(2026, 10, 2)


def test_adjusted_working_weekends_count_as_working_days() -> None:
    # 2026: 1月4日 (Sunday) and 2月14日, 2月28日, 10月10日 (Saturdays) are 调休 working days.
    assert _day("workday:1", 2026, 1) == date(2026, 1, 4)
    assert _day("weekday:1:4/next", 2026, 1) == date(2026, 1, 4)  # 1月2日 is 元旦
    assert _day("workday:-1", 2026, 2) == date(2026, 2, 28)
    assert _day("workday:1", 2026, 10) == date(2026, 10, 8)
    assert _day("workday:3", 2026, 10) == date(2026, 10, 10)
    assert _day("day:31/next", 2026, 2) == date(2026, 2, 28)  # no 31st; the 28th is a working Saturday


def test_spring_festival_2026() -> None:
    # 2月15日 (Sunday) is in the 春节 holiday (2月15日–23日); 2月14日 is a working Saturday.
    later = from_compact("day:15/next").in_month(2026, 2)
    assert later.day == date(2026, 2, 24)
    assert move_text(later) == "原定2月15日，遇春节顺延"
    assert _day("day:15/prev", 2026, 2) == date(2026, 2, 14)
    assert holiday_name(date(2026, 2, 15)) == "春节"


def test_labour_day_and_ordinary_weekends() -> None:
    assert _day("weekday:1:4/next", 2026, 5) == date(2026, 5, 6)  # 5月1日–5日 劳动节
    assert _day("weekday:1:4/prev", 2026, 5) == date(2026, 5, 6)  # 4月30日 would leave May
    # A day-of-month rule moves off an ordinary weekend; a Saturday rule keeps ordinary Saturdays …
    moved = from_compact("day:15/next").in_month(2026, 11)
    assert moved.day == date(2026, 11, 16)
    assert move_text(moved) == "原定11月15日，遇休息日顺延"
    assert _day("weekday:1:5/next", 2026, 11) == date(2026, 11, 7)
    # … but not a Saturday in a statutory holiday.
    assert _day("weekday:1:5/next", 2026, 10) == date(2026, 10, 8)
    assert _day("weekday:1:5/keep", 2026, 10) == date(2026, 10, 3)


def test_month_ends() -> None:
    assert _day("day:-1/keep", 2026, 2) == date(2026, 2, 28)
    assert _day("day:31/keep", 2026, 4) == date(2026, 4, 30)
    assert _day("day:31/keep", 2028, 2) == date(2028, 2, 29)  # a leap year
    assert _day("day:-1/next", 2026, 10) == date(2026, 10, 30)  # 31日 is a Saturday; 顺延 would leave October
    assert _day("weekday:-1:4/next", 2026, 12) == date(2026, 12, 25)
    assert _day("workday:-1", 2026, 12) == date(2026, 12, 31)


def test_2027_is_not_in_the_calendar_yet() -> None:
    # chinesecalendar publishes a year's holidays when the State Council does; until then weekdays stand in.
    assert calendar_covers(2026)
    if calendar_covers(2027):
        pytest.skip("the installed chinesecalendar knows 2027")
    assert is_workday(date(2027, 1, 1))  # a Friday; really 元旦, not yet known
    assert not is_workday(date(2027, 1, 2))
    assert holiday_name(date(2027, 1, 1)) is None
    assert _day("weekday:1:4/next", 2027, 1) == date(2027, 1, 1)
    assert _day("workday:-1", 2027, 2) == date(2027, 2, 26)


def test_next_days_across_the_year_end() -> None:
    rule = from_compact("weekday:1:4/next")
    assert [d.day for d in rule.next_days(date(2026, 12, 5), 3)] == [
        date(2027, 1, 1),
        date(2027, 2, 5),
        date(2027, 3, 5),
    ]
    assert [d.day for d in rule.next_days(date(2026, 12, 4), 1)] == [date(2026, 12, 4)]
    assert [d.day for d in rule.next_days(date(2026, 9, 30), 2)] == [date(2026, 10, 8), date(2026, 11, 6)]


def test_every_month_of_two_years_has_one_day_in_its_month() -> None:
    rules = [ThemeDayRule(RuleKind.DAY, day, shift=shift) for day in (1, 15, 29, 30, 31, -1) for shift in Shift] + [
        ThemeDayRule(RuleKind.WEEKDAY, nth, weekday) for nth in (1, 2, 3, 4, -1) for weekday in range(7)
    ]
    rules += [ThemeDayRule(RuleKind.WORKDAY, nth) for nth in (1, 2, 5, 10, -1)]
    for rule in rules:
        for year in (2026, 2027):
            for month in range(1, 13):
                theme_day = rule.in_month(year, month)
                assert (theme_day.day.year, theme_day.day.month) == (year, month), (rule, year, month)
                if rule.kind is RuleKind.WORKDAY or (theme_day.moved and rule.shift is not Shift.KEEP):
                    assert is_workday(theme_day.day), (rule, theme_day)
