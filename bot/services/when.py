"""Read the date and time an organizer types in Chinese ("明天下午3点", "下周三 15:00", "2026-12-03 15:00").

Pure logic: `now` (timezone-aware, in the branch's timezone) is always passed in; results are in now's timezone.

Rules a reader of the code and of the replies can rely on:
- A day of the week alone ("周五") is the next such day, today included; "本周五"/"这周五" is the Friday of the
  current Monday-to-Sunday week, "下周五" the Friday of the next one, "下下周五" the one after (may be in the past
  for 本周: callers reject past times with their own message).
- A month and day without a year ("12月3日", "12-03") is this year's, unless that day is more than
  `PAST_GRACE` ago, then next year's: in late December "1月5日" is next January, while a meeting typed a few days
  late (or a typo) stays in this year and the caller can say it is past.
- A time without 上午/下午 is a 24-hour time, except 1–6 o'clock, which mean the afternoon (meetings happen in the
  daytime: "3点" is 15:00, "9点" is 9:00, "12点" is noon); a leading zero ("03:00") keeps it literal.
- A time without a date is today. A date without a time is an error that asks for the time (use `parse_date` to
  read a date alone, and `datetime.combine(day, parse_time(text), tzinfo=now.tzinfo)` for a two-step flow).
- Traditional characters (下週三, 後天, 3點) and full-width digits and colons (１５：００) are read like the simplified
  and half-width ones.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

import cn2an

# --- Messages (Simplified Chinese, shown to the user as str(WhenError)) ------------------------------------------
MSG_WHEN_FORMAT = "日期看不懂，请写成 2026-12-03 15:00 或「明天下午3点」这样的格式。"
MSG_DATE_FORMAT = "日期看不懂，请写成 2026-12-03、12月3日 或「明天」「下周三」这样的格式。"
MSG_TIME_FORMAT = "时间看不懂，请写成 15:00 或「下午3点」这样的格式。"
MSG_NEED_TIME = "请把时间也写上，例如「{date} 15:00」。"
MSG_NO_SUCH_MONTH = "没有{month}月，月份应是1到12。请写成 2026-12-03 15:00 这样的格式。"
MSG_NO_SUCH_DAY = "{year}年{month}月没有{day}日，请检查日期。"
MSG_NO_SUCH_WEEKDAY = "没有「{text}」，星期请写周一到周日。"
MSG_WEEKDAY_MISMATCH = "{month}月{day}日是{actual}，不是{written}，请检查日期。"
MSG_NO_SUCH_TIME = "没有{hour}点{minute}分这个时间，请写成 15:00 或「下午3点」这样的格式。"
MSG_PERIOD_MISMATCH = "「{period}{hour}点」对不上，请写成 15:00 或「下午3点」这样的格式。"

# A year-less date more than this far in the past is read as next year's.
PAST_GRACE = timedelta(days=30)

WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


class WhenError(ValueError):
    """The text is not a date/time we understand; str(exc) is a short polite Simplified-Chinese message."""


# --- Normalization -------------------------------------------------------------------------------------------------
# One character to one character, so positions in the normalized text are positions in the original text.
_NORMALIZE = str.maketrans(
    {chr(0xFF10 + i): str(i) for i in range(10)}
    | {"：": ":", "－": "-", "／": "/", "．": ".", "\u3000": " "}
    | dict(zip("週後點號個這禮兩淩鐘時間裡", "周后点号个这礼两凌钟时间里", strict=True))
)

# --- Grammar -------------------------------------------------------------------------------------------------------
_CN_DIGITS = "零〇一二两三四五六七八九"
_NUM = rf"\d{{1,2}}|[{_CN_DIGITS}十廿]{{1,3}}"
_WEEK_WORD = r"(?:周|星期|礼拜)"
_WEEKDAY_CHAR = rf"[\d{_CN_DIGITS}十日天]"
_WEEKDAYS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7} | {str(i): i for i in range(1, 8)}

_ISO_DATE = re.compile(r"(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})(?!\d)")
_NUMERIC_MONTH_DAY = re.compile(r"(?P<month>\d{1,2})[-/](?P<day>\d{1,2})(?!\d)")
_CHINESE_DATE = re.compile(
    rf"(?:(?P<year>\d{{4}}|[{_CN_DIGITS}]{{4}})年|(?P<relative_year>今年|明年))?"
    rf"(?P<month>{_NUM})月(?P<day>{_NUM})[日号]"
)
_MONTH_DAY = re.compile(rf"(?P<which>本月|这个?月|下个?月)(?P<day>{_NUM})[日号]")
_RELATIVE_DAY = re.compile(r"大后天|后天|今天|今日|明天|明日|今晚|明早|明晚")
_WEEKDAY = re.compile(rf"(?P<which>下下个?|下个?|本|这个?)?{_WEEK_WORD}(?P<weekday>{_WEEKDAY_CHAR})")
_WEEKDAY_NOTE = re.compile(rf"\s*[(（]?{_WEEK_WORD}(?P<weekday>{_WEEKDAY_CHAR})[)）]?")

# (days from today, period the word implies)
_RELATIVE_DAYS = {
    "今天": (0, None),
    "今日": (0, None),
    "明天": (1, None),
    "明日": (1, None),
    "后天": (2, None),
    "大后天": (3, None),
    "今晚": (0, "晚上"),
    "明早": (1, "早上"),
    "明晚": (1, "晚上"),
}

_PERIOD = re.compile(r"凌晨|半夜|早上|早晨|清晨|上午|中午|下午|傍晚|晚上|夜里|夜间")
_MORNING = frozenset({"早上", "早晨", "清晨", "上午"})
_NIGHT = frozenset({"凌晨", "半夜"})
_AFTERNOON = frozenset({"下午", "傍晚"})
_EVENING = frozenset({"晚上", "夜里", "夜间"})

_COLON_TIME = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?!\d)")
_CHINESE_TIME = re.compile(
    rf"(?P<hour>{_NUM})[点时]钟?"
    rf"(?:(?P<half>半)|(?P<quarters>一刻|三刻)|(?P<minute>\d{{1,2}}|[{_CN_DIGITS}十]{{1,3}})分"
    rf"|(?P<bare_minute>\d{{2}}(?!\d)|[零〇][一二三四五六七八九]|[一二三四五]?十[一二三四五六七八九]?)|整)?"
)

_SPACE = re.compile(r"\s*")
_REST_SEPARATORS = " \t\n,，、;；:："


# --- Public API ----------------------------------------------------------------------------------------------------
def split_when(text: str, now: datetime) -> tuple[datetime, str]:
    """Read the date and time at the start of `text`; return it and the rest ("明天下午3点 会议室" -> (…, "会议室"))."""
    _require_aware(now)
    normalized = text.translate(_NORMALIZE)
    today = now.date()
    start = _skip_space(normalized, 0)
    day, implied_period, date_end = _read_date(normalized, start, today)
    time_start = _skip_space(normalized, date_end)
    clock = _read_time(normalized, time_start, implied_period)
    if clock is None:
        if date_end > start:
            raise WhenError(MSG_NEED_TIME.format(date=text[start:date_end].strip()))
        raise WhenError(MSG_WHEN_FORMAT)
    moment, time_end = clock
    if date_end == start:
        day = today
    rest = text[time_end:].lstrip(_REST_SEPARATORS)
    return datetime.combine(day, moment, tzinfo=now.tzinfo), rest


def parse_when(text: str, now: datetime) -> datetime:
    """Read a whole text that is a date and time ("下周三 15:00"); anything else after it is an error."""
    moment, rest = split_when(text, now)
    if rest:
        raise WhenError(MSG_WHEN_FORMAT)
    return moment


def parse_date(text: str, now: datetime) -> date:
    """Read a whole text that is a date alone ("明天", "12月3日", "下周三")."""
    _require_aware(now)
    normalized = text.translate(_NORMALIZE)
    start = _skip_space(normalized, 0)
    day, _, end = _read_date(normalized, start, now.date())
    if end == start or normalized[end:].strip():
        raise WhenError(MSG_DATE_FORMAT)
    return day


def parse_time(text: str) -> time:
    """Read a whole text that is a time of day alone ("15:30", "下午3点", "三点一刻")."""
    normalized = text.translate(_NORMALIZE)
    clock = _read_time(normalized, _skip_space(normalized, 0), None)
    if clock is None or normalized[clock[1] :].strip():
        raise WhenError(MSG_TIME_FORMAT)
    return clock[0]


def format_when(dt: datetime, now: datetime) -> str:
    """Chinese display form in now's timezone: "12月3日（周四）15:00", with the year when it is not now's year."""
    _require_aware(dt)
    _require_aware(now)
    local = dt.astimezone(now.tzinfo)
    year = f"{local.year}年" if local.year != now.year else ""
    return f"{year}{local.month}月{local.day}日（{WEEKDAY_NAMES[local.weekday()]}）{local.hour}:{local.minute:02d}"


# --- Dates ---------------------------------------------------------------------------------------------------------
def _read_date(text: str, pos: int, today: date) -> tuple[date, str | None, int]:
    """The date starting at `pos`: (day, period the words imply, end). No date there: (today, None, pos)."""
    if match := _ISO_DATE.match(text, pos):
        day = _make_date(int(match["year"]), int(match["month"]), int(match["day"]))
        return day, None, _check_weekday_note(text, match.end(), day)
    if match := _CHINESE_DATE.match(text, pos):
        month, day_of_month = _number(match["month"]), _number(match["day"])
        if match["year"]:
            day = _make_date(_number(match["year"]), month, day_of_month)
        elif match["relative_year"]:
            year = today.year + 1 if match["relative_year"] == "明年" else today.year
            day = _make_date(year, month, day_of_month)
        else:
            day = _next_month_day(month, day_of_month, today)
        return day, None, _check_weekday_note(text, match.end(), day)
    if match := _NUMERIC_MONTH_DAY.match(text, pos):
        day = _next_month_day(int(match["month"]), int(match["day"]), today)
        return day, None, _check_weekday_note(text, match.end(), day)
    if match := _MONTH_DAY.match(text, pos):
        year, month = today.year, today.month
        if match["which"].startswith("下"):
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        day = _make_date(year, month, _number(match["day"]))
        return day, None, _check_weekday_note(text, match.end(), day)
    if match := _RELATIVE_DAY.match(text, pos):
        offset, period = _RELATIVE_DAYS[match[0]]
        day = today + timedelta(days=offset)
        return day, period, _check_weekday_note(text, match.end(), day)
    if match := _WEEKDAY.match(text, pos):
        weekday = _weekday(match["weekday"])
        which = match["which"]
        if which is None:
            day = today + timedelta(days=(weekday - today.isoweekday()) % 7)
        else:
            monday = today - timedelta(days=today.isoweekday() - 1)
            day = monday + timedelta(weeks=which.count("下"), days=weekday - 1)
        return day, None, match.end()
    return today, None, pos


def _next_month_day(month: int, day_of_month: int, today: date) -> date:
    """A year-less date: this year's, or next year's if this year's is more than PAST_GRACE ago."""
    _check_month(month)
    cutoff = today - PAST_GRACE
    year = today.year
    if cutoff.year == today.year and (month, day_of_month) < (cutoff.month, cutoff.day):
        year += 1
    return _make_date(year, month, day_of_month)


def _make_date(year: int, month: int, day_of_month: int) -> date:
    _check_month(month)
    try:
        return date(year, month, day_of_month)
    except ValueError:
        raise WhenError(MSG_NO_SUCH_DAY.format(year=year, month=month, day=day_of_month)) from None


def _check_month(month: int) -> None:
    if not 1 <= month <= 12:
        raise WhenError(MSG_NO_SUCH_MONTH.format(month=month))


def _weekday(char: str) -> int:
    if char not in _WEEKDAYS:
        raise WhenError(MSG_NO_SUCH_WEEKDAY.format(text=f"周{char}"))
    return _WEEKDAYS[char]


def _check_weekday_note(text: str, pos: int, day: date) -> int:
    """Accept "12月3日（周四）" (as format_when writes it) when the weekday is right; return where the date ends."""
    match = _WEEKDAY_NOTE.match(text, pos)
    if match is None:
        return pos
    written = _weekday(match["weekday"])
    if written != day.isoweekday():
        raise WhenError(
            MSG_WEEKDAY_MISMATCH.format(
                month=day.month,
                day=day.day,
                actual=WEEKDAY_NAMES[day.weekday()],
                written=WEEKDAY_NAMES[written - 1],
            )
        )
    return match.end()


# --- Times ---------------------------------------------------------------------------------------------------------
def _read_time(text: str, pos: int, implied_period: str | None) -> tuple[time, int] | None:
    """The time of day starting at `pos` and where it ends, or None if there is no clock reading there."""
    period = implied_period
    if match := _PERIOD.match(text, pos):
        period = match[0]
        pos = _skip_space(text, match.end())
    if match := _COLON_TIME.match(text, pos):
        hour_text, minute = match["hour"], int(match["minute"])
    elif match := _CHINESE_TIME.match(text, pos):
        hour_text, minute = match["hour"], _minutes(match)
    else:
        return None
    hour = _number(hour_text)
    if hour > 23 or minute > 59:
        raise WhenError(MSG_NO_SUCH_TIME.format(hour=hour, minute=minute))
    literal = hour_text.startswith("0") and len(hour_text) == 2
    return time(_apply_period(period, hour, literal), minute), match.end()


def _minutes(match: re.Match[str]) -> int:
    if match["half"]:
        return 30
    if match["quarters"]:
        return 15 if match["quarters"] == "一刻" else 45
    minute = match["minute"] or match["bare_minute"]
    return _number(minute) if minute else 0


def _apply_period(period: str | None, hour: int, literal: bool) -> int:
    """The 24-hour hour for `hour` said with `period` (上午/下午/…), or with none (the daytime rule)."""
    if period is None:
        return hour + 12 if 1 <= hour <= 6 and not literal else hour
    if period in _NIGHT and hour <= 6:
        return hour
    if period in _NIGHT and hour == 12:
        return 0
    if period in _MORNING and hour <= 12:
        return hour
    if period == "中午" and hour in (11, 12, 13, 14):
        return hour
    if period == "中午" and hour in (1, 2):
        return hour + 12
    if period in _AFTERNOON and 1 <= hour <= 11:
        return hour + 12
    if period in _AFTERNOON and hour >= 12:
        return hour
    if period in _EVENING and 5 <= hour <= 11:
        return hour + 12
    if period in _EVENING and hour >= 17:
        return hour
    raise WhenError(MSG_PERIOD_MISMATCH.format(period=period, hour=hour))


# --- Small helpers -------------------------------------------------------------------------------------------------
def _number(token: str) -> int:
    """Arabic or Chinese numeral ("15", "十五", "两", "二〇二六") to int."""
    if token.isdigit():
        return int(token)
    try:
        return int(cn2an.cn2an(token, "normal"))
    except (ValueError, KeyError):  # cn2an raises KeyError for some malformed numerals ("廿零")
        raise WhenError(MSG_WHEN_FORMAT) from None


def _skip_space(text: str, pos: int) -> int:
    return _SPACE.match(text, pos).end()


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
