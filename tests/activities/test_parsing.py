"""The one-line syntax of bot.services.activities (pure: no database, no Telegram)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.models import ActivityKind, Role
from bot.services.activities import (
    ActivityRefused,
    ActivityRequest,
    Refusal,
    creatable_kinds,
    parse_activity_line,
    parse_kinds,
)
from bot.services.when import WhenError

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Friday
TZ = "Asia/Shanghai"


def _parse(line: str) -> ActivityRequest:
    return parse_activity_line(line, now=NOW, timezone=TZ)


def test_kinds_main_first_aliases_and_duplicates() -> None:
    assert parse_kinds("主题党日+党员大会＋党课+党课") == (
        ActivityKind.THEME_DAY,
        ActivityKind.MEMBERS_MEETING,
        ActivityKind.PARTY_LECTURE,
    )
    with pytest.raises(ActivityRefused) as refused:
        parse_kinds("支委会+座谈会")
    assert (refused.value.reason, refused.value.details) == (Refusal.UNKNOWN_KIND, {"kind": "座谈会"})


def test_date_time_place_topic() -> None:
    request = _parse("支委会 明天下午3点 三楼会议室 学习 二十届四中全会 精神")
    assert request.starts_at == datetime(2026, 11, 28, 15, 0, tzinfo=ZoneInfo(TZ))
    assert (request.place, request.topic) == ("三楼会议室", "学习 二十届四中全会 精神")
    assert (request.lecturer, request.party_group) == ("", None)


@pytest.mark.parametrize(
    ("tail", "topic", "lecturer"),
    [
        ("讲课人：王芳 学习党章", "学习党章", "王芳"),
        ("学习党章，讲课人:王芳", "学习党章", "王芳"),
        ("学习党章 讲课人：王芳 第二讲", "学习党章 第二讲", "王芳"),
        ("学习党章 讲课人 王芳", "学习党章", "王芳"),
        ("学习党章讲课人的经验", "学习党章讲课人的经验", ""),  # no label: part of the topic
    ],
)
def test_lecturer_label(tail: str, topic: str, lecturer: str) -> None:
    request = _parse(f"党课 2026-12-03 15:00 会议室 {tail}")
    assert (request.topic, request.lecturer) == (topic, lecturer)


def test_labels_only_for_their_kind() -> None:
    request = _parse("支委会 2026-12-03 15:00 会议室 研究讲课人：王芳的安排")
    assert (request.topic, request.lecturer) == ("研究讲课人：王芳的安排", "")
    request = _parse("党小组会 2026-12-03 15:00 会议室 党小组：第二党小组 交流体会")
    assert (request.topic, request.party_group) == ("交流体会", "第二党小组")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("支委会", Refusal.USAGE),
        ("", Refusal.USAGE),
        ("支委会 2026-12-03 15:00", Refusal.MISSING_PLACE),
        ("支委会 2026-12-03 15:00 会议室", Refusal.MISSING_TOPIC),
        ("党课 2026-12-03 15:00 会议室 讲课人：王芳", Refusal.MISSING_TOPIC),
        ("党课 2026-12-03 15:00 会议室 主题 讲课人：" + "王" * 51, Refusal.LECTURER_TOO_LONG),
    ],
)
def test_refusals(line: str, reason: Refusal) -> None:
    with pytest.raises(ActivityRefused) as refused:
        _parse(line)
    assert refused.value.reason is reason


def test_dates_are_read_by_when() -> None:
    with pytest.raises(WhenError):
        _parse("支委会 某天 会议室 主题")


def test_who_creates_what() -> None:
    assert creatable_kinds(Role.SECRETARY) == tuple(ActivityKind)
    assert creatable_kinds(Role.ORGANIZATION) == tuple(ActivityKind)
    assert creatable_kinds(Role.GROUP_LEADER) == (ActivityKind.PARTY_GROUP_MEETING,)
    assert creatable_kinds(Role.MEMBER) == creatable_kinds(Role.PROPAGANDA) == ()
