"""Tests for bot.services.when: the Chinese date/time phrases an organizer types, read against a fixed `now`."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.services import when
from bot.services.when import WhenError, format_when, parse_date, parse_time, parse_when, split_when

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)  # a Friday
LATE_DECEMBER = datetime(2026, 12, 28, 9, 0, tzinfo=TZ)  # a Monday


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03 15:00", at(2026, 12, 3, 15)),
        ("2026/12/3 15:00", at(2026, 12, 3, 15)),
        ("2026.12.03 15:00", at(2026, 12, 3, 15)),
        ("2026年12月3日 15:00", at(2026, 12, 3, 15)),
        ("二〇二六年十二月三日 下午三点", at(2026, 12, 3, 15)),
        ("12月3日 9:30", at(2026, 12, 3, 9, 30)),
        ("12月3号下午3点", at(2026, 12, 3, 15)),
        ("12-03 15:00", at(2026, 12, 3, 15)),
        ("12/3 15:00", at(2026, 12, 3, 15)),
        ("明天下午3点", at(2026, 11, 28, 15)),
        ("后天上午9点", at(2026, 11, 29, 9)),
        ("大后天 14:00", at(2026, 11, 30, 14)),
        ("今天晚上7点半", at(2026, 11, 27, 19, 30)),
        ("今晚8点", at(2026, 11, 27, 20)),
        ("明早9点", at(2026, 11, 28, 9)),
        ("下周三 15:00", at(2026, 12, 2, 15)),
        ("下个星期三 15:00", at(2026, 12, 2, 15)),
        ("下下周一 9:00", at(2026, 12, 7, 9)),
        ("本周五下午两点", at(2026, 11, 27, 14)),
        ("这周日上午10点", at(2026, 11, 29, 10)),
        ("本周一 15:00", at(2026, 11, 23, 15)),  # past: the caller rejects it
        ("周五 14:30", at(2026, 11, 27, 14, 30)),  # today is Friday: today
        ("周四 14:30", at(2026, 12, 3, 14, 30)),
        ("星期六下午3点", at(2026, 11, 28, 15)),
        ("礼拜天 9:00", at(2026, 11, 29, 9)),
        ("本月30日 15:00", at(2026, 11, 30, 15)),
        ("下个月5号 上午10点", at(2026, 12, 5, 10)),
        ("下月5日 10:00", at(2026, 12, 5, 10)),
        ("十二月三日上午九点半", at(2026, 12, 3, 9, 30)),
        ("明年3月1日 15:00", at(2027, 3, 1, 15)),
        ("12月3日（周四）15:00", at(2026, 12, 3, 15)),  # format_when's own output reads back
        ("１２月３日 １５：００", at(2026, 12, 3, 15)),
        ("下週三 15:00", at(2026, 12, 2, 15)),
        ("後天下午3點", at(2026, 11, 29, 15)),
        ("下個月5號 上午10點", at(2026, 12, 5, 10)),
        ("15:30", at(2026, 11, 27, 15, 30)),  # a time alone is today
        ("晚上8点", at(2026, 11, 27, 20)),
        ("  明天 下午 3点  ", at(2026, 11, 28, 15)),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    result = parse_when(text, NOW)
    assert result == expected
    assert result.tzinfo is TZ


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("三点一刻", time(15, 15)),
        ("三点三刻", time(15, 45)),
        ("15点30分", time(15, 30)),
        ("15时30分", time(15, 30)),
        ("15:30", time(15, 30)),
        ("下午3:30", time(15, 30)),
        ("下午15:00", time(15, 0)),
        ("中午12点", time(12, 0)),
        ("中午1点", time(13, 0)),
        ("晚上8点", time(20, 0)),
        ("傍晚6点", time(18, 0)),
        ("凌晨5点", time(5, 0)),
        ("凌晨12点", time(0, 0)),
        ("上午九点半", time(9, 30)),
        ("早上7点", time(7, 0)),
        ("十五点三十分", time(15, 30)),
        ("三点零五分", time(15, 5)),
        ("三点十五", time(15, 15)),
        ("3点05", time(15, 5)),
        ("3点整", time(15, 0)),
        ("3点钟", time(15, 0)),
        ("两点", time(14, 0)),
        ("１５：００", time(15, 0)),
        ("下午3點半", time(15, 30)),
        # no 上午/下午: 1–6 o'clock is the afternoon, 7–12 as said, 0 and 13–23 literal, a leading zero literal
        ("1点", time(13, 0)),
        ("6点", time(18, 0)),
        ("7点", time(7, 0)),
        ("11:30", time(11, 30)),
        ("12点", time(12, 0)),
        ("0点", time(0, 0)),
        ("03:00", time(3, 0)),
        ("23:59", time(23, 59)),
    ],
)
def test_parse_time(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("明天", date(2026, 11, 28)),
        ("今晚", date(2026, 11, 27)),
        ("2026-12-03", date(2026, 12, 3)),
        ("12月3日", date(2026, 12, 3)),
        ("下周三", date(2026, 12, 2)),
        ("周五", date(2026, 11, 27)),
        ("本月15日", date(2026, 11, 15)),
        ("本月30号", date(2026, 11, 30)),
        ("下个月5号", date(2026, 12, 5)),
        ("12月3日（周四）", date(2026, 12, 3)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text, NOW) == expected


def test_year_less_date_is_this_year_within_grace_else_next_year() -> None:
    assert parse_date("12月3日", NOW) == date(2026, 12, 3)
    assert parse_date("11月1日", NOW) == date(2026, 11, 1)  # 26 days ago: stays, the caller says it is past
    assert parse_date("10月20日", NOW) == date(2027, 10, 20)  # 38 days ago: next year
    assert parse_date("1月5日", LATE_DECEMBER) == date(2027, 1, 5)
    assert parse_date("01-05", LATE_DECEMBER) == date(2027, 1, 5)
    assert parse_date("12月3日", LATE_DECEMBER) == date(2026, 12, 3)


def test_rollovers_at_year_end() -> None:
    assert parse_when("下个月5号 上午10点", LATE_DECEMBER) == at(2027, 1, 5, 10)
    assert parse_when("下周三 15:00", LATE_DECEMBER) == at(2027, 1, 6, 15)
    assert parse_when("周日 9:00", LATE_DECEMBER) == at(2027, 1, 3, 9)
    assert parse_when("本周五 9:00", LATE_DECEMBER) == at(2027, 1, 1, 9)
    assert parse_when("后天下午3点", datetime(2026, 12, 31, 9, 0, tzinfo=TZ)) == at(2027, 1, 2, 15)


def test_month_ends_and_leap_years() -> None:
    end_of_january = datetime(2027, 1, 31, 9, 0, tzinfo=TZ)
    assert parse_date("明天", end_of_january) == date(2027, 2, 1)
    assert parse_date("下个月28号", end_of_january) == date(2027, 2, 28)
    assert parse_date("2028-02-29", NOW) == date(2028, 2, 29)
    assert parse_date("2月29日", datetime(2027, 11, 27, 9, 0, tzinfo=TZ)) == date(2028, 2, 29)
    assert parse_date("明天", datetime(2028, 2, 28, 9, 0, tzinfo=TZ)) == date(2028, 2, 29)
    with pytest.raises(WhenError, match="2027年2月没有29日"):
        parse_date("下个月29号", end_of_january)
    with pytest.raises(WhenError, match="2026年2月没有29日"):
        parse_date("2026-02-29", NOW)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2月30日 15:00", "2027年2月没有30日"),
        ("2026-02-30 15:00", "2026年2月没有30日"),
        ("本月31日 15:00", "2026年11月没有31日"),
        ("13月1日 15:00", "没有13月"),
        ("2026-13-01 15:00", "没有13月"),
        ("12月32日 15:00", "没有32日"),
        ("下周八 15:00", "没有「周八」"),
        ("12月3日（周五）15:00", "12月3日是周四，不是周五"),
        ("25点", "没有25点0分"),
        ("15:61", "没有15点61分"),
        ("晚上1点", "「晚上1点」对不上"),
        ("晚上12点", "「晚上12点」对不上"),
        ("上午15点", "「上午15点」对不上"),
        ("下午0点", "「下午0点」对不上"),
        ("明天", "请把时间也写上，例如「明天 15:00」"),
        ("明天下午", "请把时间也写上"),
        ("12月3日 会议室", "请把时间也写上，例如「12月3日 15:00」"),
        ("", "日期看不懂"),
        ("十十月3日 15:00", "日期看不懂"),
        ("廿零点", "日期看不懂"),
        ("开会", "日期看不懂"),
        ("下午", "日期看不懂"),
        ("2026-12-0315:00", "日期看不懂"),
        ("明天下午3点 会议室", "日期看不懂"),  # parse_when wants nothing after the time
    ],
)
def test_parse_when_rejects_with_a_helpful_message(text: str, message: str) -> None:
    with pytest.raises(WhenError, match=re.escape(message)) as caught:
        parse_when(text, NOW)
    assert isinstance(caught.value, ValueError)
    assert "。" in str(caught.value)


@pytest.mark.parametrize("text", ["", "下午", "3点 会议室", "明天3点", "30", "25:00", "晚上1点"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(WhenError):
        parse_time(text)


@pytest.mark.parametrize("text", ["", "明天下午3点", "15:00", "下周八", "2月30日", "周末"])
def test_parse_date_rejects(text: str) -> None:
    with pytest.raises(WhenError):
        parse_date(text, NOW)


@pytest.mark.parametrize(
    ("text", "expected", "rest"),
    [
        ("明天下午3点 会议室 学习二十大", at(2026, 11, 28, 15), "会议室 学习二十大"),
        ("2026-12-03 15:00 会议室 学习…", at(2026, 12, 3, 15), "会议室 学习…"),
        ("12月3日15:00会议室", at(2026, 12, 3, 15), "会议室"),
        ("下周三 15:00，三楼会议室", at(2026, 12, 2, 15), "三楼会议室"),
        ("下午3点3楼会议室", at(2026, 11, 27, 15), "3楼会议室"),
        ("下午三点一起学习", at(2026, 11, 27, 15), "一起学习"),
        ("１５：００ 會議室　學習", at(2026, 11, 27, 15), "會議室　學習"),  # the rest keeps its own characters
        ("15:00", at(2026, 11, 27, 15), ""),
    ],
)
def test_split_when_returns_the_rest_intact(text: str, expected: datetime, rest: str) -> None:
    assert split_when(text, NOW) == (expected, rest)


def test_two_step_flow_combines_date_and_time() -> None:
    day = parse_date("下周三", NOW)
    moment = datetime.combine(day, parse_time("下午3点"), tzinfo=NOW.tzinfo)
    assert moment == parse_when("下周三下午3点", NOW)


def test_results_are_in_nows_timezone() -> None:
    utc_now = NOW.astimezone(ZoneInfo("UTC"))  # 02:00 UTC, the same Friday
    assert parse_when("明天 15:00", utc_now) == datetime(2026, 11, 28, 15, 0, tzinfo=ZoneInfo("UTC"))


def test_format_when() -> None:
    assert format_when(at(2026, 12, 3, 15), NOW) == "12月3日（周四）15:00"
    assert format_when(at(2026, 12, 3, 9, 5), NOW) == "12月3日（周四）9:05"
    assert format_when(at(2027, 1, 5, 9, 30), NOW) == "2027年1月5日（周二）9:30"
    stored_in_utc = datetime(2026, 12, 3, 7, 0, tzinfo=ZoneInfo("UTC"))
    assert format_when(stored_in_utc, NOW) == "12月3日（周四）15:00"


def test_format_when_reads_back() -> None:
    for moment in (at(2026, 12, 3, 15), at(2027, 1, 5, 9, 30), at(2026, 11, 29, 19, 45)):
        assert parse_when(format_when(moment, NOW), NOW) == moment


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 11, 27, 10, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_when("明天下午3点", naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        format_when(naive, NOW)


def test_module_never_reads_the_clock() -> None:
    source = Path(when.__file__).read_text(encoding="utf-8")
    for call in ("datetime.now", "date.today", "datetime.today", "utcnow", "time.time", "time.monotonic"):
        assert call not in source
