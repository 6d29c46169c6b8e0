"""The requirements table: periods, kinds, counting, local overrides, due reminders and the progress text."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.requirements import (
    REQUIREMENTS,
    ActivityKind,
    HeldActivity,
    Period,
    ProgressLine,
    Requirement,
    apply_overrides,
    evaluate,
    format_progress,
    parse_kind,
    period_bounds,
    period_label,
    unmet_due,
)

K = ActivityKind
GROUPS = {1: "第一党小组", 2: "第二党小组"}


def held(*kinds: ActivityKind, on: date, group: int | None = None, secretary: bool = False) -> HeldActivity:
    return HeldActivity(kinds=frozenset(kinds), held_on=on, party_group_id=group, lecturer_is_secretary=secretary)


def by_key(lines: list[ProgressLine]) -> dict[tuple[str, str], ProgressLine]:
    return {(line.requirement.key, line.scope): line for line in lines}


def requirement(key: str) -> Requirement:
    return next(r for r in REQUIREMENTS if r.key == key)


# --- periods ---


@pytest.mark.parametrize(
    ("period", "on", "start", "end"),
    [
        (Period.MONTH, date(2026, 11, 15), date(2026, 11, 1), date(2026, 12, 1)),
        (Period.MONTH, date(2026, 12, 31), date(2026, 12, 1), date(2027, 1, 1)),
        (Period.MONTH, date(2026, 2, 28), date(2026, 2, 1), date(2026, 3, 1)),
        (Period.MONTH, date(2028, 2, 29), date(2028, 2, 1), date(2028, 3, 1)),
        (Period.QUARTER, date(2026, 1, 1), date(2026, 1, 1), date(2026, 4, 1)),
        (Period.QUARTER, date(2026, 3, 31), date(2026, 1, 1), date(2026, 4, 1)),
        (Period.QUARTER, date(2026, 4, 1), date(2026, 4, 1), date(2026, 7, 1)),
        (Period.QUARTER, date(2026, 9, 30), date(2026, 7, 1), date(2026, 10, 1)),
        (Period.QUARTER, date(2026, 12, 31), date(2026, 10, 1), date(2027, 1, 1)),
        (Period.YEAR, date(2026, 12, 31), date(2026, 1, 1), date(2027, 1, 1)),
        (Period.YEAR, date(2026, 1, 1), date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_period_bounds(period: Period, on: date, start: date, end: date) -> None:
    assert period_bounds(period, on) == (start, end)


def test_period_labels() -> None:
    on = date(2026, 11, 3)
    assert period_label(Period.MONTH, on) == "2026年11月"
    assert period_label(Period.QUARTER, on) == "2026年第四季度"
    assert period_label(Period.QUARTER, date(2026, 2, 1)) == "2026年第一季度"
    assert period_label(Period.YEAR, on) == "2026年"


# --- kinds ---


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("支部党员大会", K.MEMBERS_MEETING),
        ("党员大会", K.MEMBERS_MEETING),
        ("支部大会", K.MEMBERS_MEETING),
        ("支委会", K.COMMITTEE_MEETING),
        ("支部委员会会议", K.COMMITTEE_MEETING),
        ("支委会议", K.COMMITTEE_MEETING),
        ("小组会", K.PARTY_GROUP_MEETING),
        ("党小组会", K.PARTY_GROUP_MEETING),
        ("党课", K.PARTY_LECTURE),
        ("党日", K.THEME_DAY),
        ("主题党日活动", K.THEME_DAY),
        (" 主题党日 ", K.THEME_DAY),
        ("组织生活会", K.ORGANIZATIONAL_LIFE_MEETING),
        ("民主评议", K.DEMOCRATIC_APPRAISAL),
        ("民主评议党员", K.DEMOCRATIC_APPRAISAL),
        ("其他", K.OTHER),
        ("民主生活会", None),
        ("", None),
    ],
)
def test_parse_kind(text: str, kind: ActivityKind | None) -> None:
    assert parse_kind(text) is kind


def test_kind_values_are_the_chinese_names() -> None:
    assert str(K.COMMITTEE_MEETING) == "支委会"
    assert K("支部党员大会") is K.MEMBERS_MEETING


# --- the table ---


def test_table_shape() -> None:
    keys = [r.key for r in REQUIREMENTS]
    assert len(keys) == len(set(keys)) == 8
    assert all(key.isascii() for key in keys)
    periods = {r.key: (r.period, r.minimum) for r in REQUIREMENTS}
    assert periods == {
        "members_meeting": (Period.QUARTER, 1),
        "committee_meeting": (Period.MONTH, 1),
        "party_group_meeting": (Period.MONTH, 1),
        "party_lecture": (Period.QUARTER, 1),
        "secretary_lecture": (Period.YEAR, 1),
        "theme_day": (Period.MONTH, 1),
        "organizational_life_meeting": (Period.YEAR, 1),
        "democratic_appraisal": (Period.YEAR, 1),
    }
    assert [r.key for r in REQUIREMENTS if r.local_practice] == ["party_lecture", "secretary_lecture"]
    assert [r.key for r in REQUIREMENTS if r.local_rule] == ["secretary_lecture"]
    assert [r.key for r in REQUIREMENTS if r.per_party_group] == ["party_group_meeting"]
    assert {r.key for r in REQUIREMENTS if r.active_from_month == 11} == {
        "organizational_life_meeting",
        "democratic_appraisal",
    }
    assert all(r.remind_days_before == (7, 2) and "条例" in r.basis for r in REQUIREMENTS)
    assert requirement("committee_meeting").label == "支委会 每月至少1次"
    assert requirement("party_group_meeting").label == "党小组会 每个党小组每月至少1次"


def test_active_from_month_only_for_yearly_requirements() -> None:
    with pytest.raises(ValueError, match="active_from_month"):
        Requirement("x", "x", K.OTHER, Period.MONTH, 1, "basis", active_from_month=11)


def test_secretary_lecture_is_labelled_local_practice_but_kept() -> None:
    # 条例 第十六条 names the 党委（党组）书记; "支部书记每年讲1次" is a local rule. Earlier versions cited 第十六条
    # for it as if the 条例 said so. It keeps its place, period and minimum; only its wording says what it is.
    lecture = requirement("secretary_lecture")
    assert (lecture.period, lecture.minimum, lecture.lecturer_must_be_secretary) == (Period.YEAR, 1, True)
    assert lecture.name == "书记讲党课"  # /require 书记讲党课 and the reminders still find it by this name
    assert lecture.label == "书记讲党课（地方做法）每年至少1次"
    assert lecture.basis.startswith("地方做法")
    assert "党委（党组）书记" in lecture.basis and "第十六条" in lecture.basis
    assert lecture.local_rule is not None and "党委（党组）书记" in lecture.local_rule
    stricter = next(r for r in apply_overrides(REQUIREMENTS, {"secretary_lecture": 2}) if r.key == "secretary_lecture")
    assert stricter.label == "书记讲党课（地方做法）每年至少2次"
    with pytest.raises(ValueError, match="不能低于统一要求：书记讲党课（地方做法）每年至少1次"):
        apply_overrides(REQUIREMENTS, {"secretary_lecture": 0})


def test_a_local_rule_is_also_local_practice() -> None:
    with pytest.raises(ValueError, match="local rule"):
        Requirement("x", "x", K.OTHER, Period.YEAR, 1, "basis", local_rule="某地规定")


# --- overrides ---


def test_stricter_override_is_applied() -> None:
    table = apply_overrides(REQUIREMENTS, {"party_lecture": 2, "committee_meeting": 1})
    assert {r.key: r.minimum for r in table}["party_lecture"] == 2
    assert next(r for r in table if r.key == "party_lecture").label == "党课 每季度至少2次"
    assert [r.key for r in table] == [r.key for r in REQUIREMENTS]
    assert requirement("party_lecture").minimum == 1  # the shared table is untouched


def test_weaker_override_is_refused() -> None:
    with pytest.raises(ValueError, match="不能低于统一要求：支委会 每月至少1次"):
        apply_overrides(REQUIREMENTS, {"committee_meeting": 0})


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ValueError, match="没有这一项要求：weekly_tea"):
        apply_overrides(REQUIREMENTS, {"weekly_tea": 3})


# --- evaluation ---


def test_counts_per_period_and_days_left() -> None:
    today = date(2026, 11, 27)
    activities = [
        held(K.COMMITTEE_MEETING, on=date(2026, 10, 30)),  # last month: not this month, but this quarter/year
        held(K.COMMITTEE_MEETING, on=date(2026, 11, 5)),
        held(K.COMMITTEE_MEETING, on=date(2026, 12, 1)),  # after today's period
        held(K.MEMBERS_MEETING, on=date(2026, 9, 30)),  # previous quarter
        held(K.MEMBERS_MEETING, on=date(2026, 10, 1)),
    ]
    lines = by_key(evaluate(REQUIREMENTS, activities, today, {}))
    committee = lines["committee_meeting", "本支部"]
    assert (committee.held, committee.minimum, committee.met) == (1, 1, True)
    assert committee.period_label == "2026年11月"
    assert committee.days_left == 4  # 27, 28, 29, 30 November
    members = lines["members_meeting", "本支部"]
    assert (members.held, members.met, members.days_left, members.period_label) == (1, True, 35, "2026年第四季度")
    theme = lines["theme_day", "本支部"]
    assert (theme.held, theme.met) == (0, False)
    assert lines["organizational_life_meeting", "本支部"].days_left == 35


def test_days_left_counts_today_on_the_last_day() -> None:
    lines = by_key(evaluate(REQUIREMENTS, [], date(2026, 12, 31), {}))
    assert {line.days_left for line in lines.values()} == {1}


def test_one_activity_counts_for_each_of_its_kinds() -> None:
    day = held(K.THEME_DAY, K.MEMBERS_MEETING, K.PARTY_LECTURE, on=date(2026, 5, 8))
    lines = by_key(evaluate(REQUIREMENTS, [day], date(2026, 5, 20), {}))
    assert lines["theme_day", "本支部"].held == 1
    assert lines["members_meeting", "本支部"].held == 1
    assert lines["party_lecture", "本支部"].held == 1
    assert lines["committee_meeting", "本支部"].held == 0
    assert lines["secretary_lecture", "本支部"].held == 0


def test_each_kind_still_checked_against_its_own_minimum() -> None:
    table = apply_overrides(REQUIREMENTS, {"party_lecture": 2})
    day = held(K.THEME_DAY, K.PARTY_LECTURE, on=date(2026, 5, 8))
    lines = by_key(evaluate(table, [day], date(2026, 5, 20), {}))
    assert lines["theme_day", "本支部"].met
    lecture = lines["party_lecture", "本支部"]
    assert (lecture.held, lecture.minimum, lecture.met) == (1, 2, False)


def test_party_group_meetings_are_counted_per_group() -> None:
    activities = [
        held(K.PARTY_GROUP_MEETING, on=date(2026, 11, 3), group=1),
        held(K.PARTY_GROUP_MEETING, on=date(2026, 11, 10), group=1),
        held(K.PARTY_GROUP_MEETING, on=date(2026, 10, 10), group=2),  # last month
        held(K.PARTY_GROUP_MEETING, on=date(2026, 11, 10)),  # no group recorded: counts for no group
    ]
    lines = [line for line in evaluate(REQUIREMENTS, activities, date(2026, 11, 20), GROUPS) if line.party_group_id]
    assert [(line.scope, line.held, line.met) for line in lines] == [("第一党小组", 2, True), ("第二党小组", 0, False)]
    assert all(line.requirement.key == "party_group_meeting" for line in lines)


def test_branch_level_requirements_ignore_the_recording_group() -> None:
    lecture = held(K.PARTY_LECTURE, on=date(2026, 11, 3), group=2)
    lines = by_key(evaluate(REQUIREMENTS, [lecture], date(2026, 11, 20), GROUPS))
    assert lines["party_lecture", "本支部"].held == 1


def test_branch_without_party_groups_gets_one_not_applicable_line() -> None:
    lines = [line for line in evaluate(REQUIREMENTS, [], date(2026, 11, 20), {}) if line.requirement.per_party_group]
    assert len(lines) == 1
    assert (lines[0].applicable, lines[0].met, lines[0].scope) == (False, True, "本支部")


def test_secretary_lecture_needs_the_secretary_as_lecturer() -> None:
    today = date(2026, 6, 1)
    others = [held(K.PARTY_LECTURE, on=date(2026, 3, 1)), held(K.THEME_DAY, on=date(2026, 4, 1), secretary=True)]
    assert by_key(evaluate(REQUIREMENTS, others, today, {}))["secretary_lecture", "本支部"].held == 0
    by_secretary = [*others, held(K.THEME_DAY, K.PARTY_LECTURE, on=date(2026, 2, 1), secretary=True)]
    lines = by_key(evaluate(REQUIREMENTS, by_secretary, today, {}))
    assert lines["secretary_lecture", "本支部"].held == 1
    assert lines["secretary_lecture", "本支部"].met


# --- reminders ---


def due_keys(today: date, activities: list[HeldActivity] | None = None) -> set[tuple[str, str]]:
    return {(line.requirement.key, line.scope) for line in unmet_due(REQUIREMENTS, activities or [], today, GROUPS)}


def test_monthly_unmet_due_exactly_7_and_2_days_before_the_end() -> None:
    monthly = {("committee_meeting", "本支部"), ("theme_day", "本支部")} | {
        ("party_group_meeting", name) for name in GROUPS.values()
    }
    assert due_keys(date(2026, 5, 25)) == monthly  # 25..31 May = 7 days
    assert due_keys(date(2026, 5, 30)) == monthly  # 30, 31 May = 2 days
    for day in (24, 26, 29, 31):
        assert due_keys(date(2026, 5, day)) == set()


def test_quarterly_unmet_due_at_quarter_end() -> None:
    assert due_keys(date(2026, 9, 24)) >= {("members_meeting", "本支部"), ("party_lecture", "本支部")}
    assert due_keys(date(2026, 9, 29)) >= {("members_meeting", "本支部"), ("party_lecture", "本支部")}
    assert not {key for key, _ in due_keys(date(2026, 9, 23))} & {"members_meeting", "party_lecture"}


def test_met_requirements_and_groups_are_not_due() -> None:
    activities = [
        held(K.COMMITTEE_MEETING, K.THEME_DAY, on=date(2026, 5, 2)),
        held(K.PARTY_GROUP_MEETING, on=date(2026, 5, 3), group=1),
    ]
    assert due_keys(date(2026, 5, 25), activities) == {("party_group_meeting", "第二党小组")}


def test_branch_without_groups_is_never_reminded_about_party_group_meetings() -> None:
    lines = unmet_due(REQUIREMENTS, [], date(2026, 5, 25), {})
    assert {line.requirement.key for line in lines} == {"committee_meeting", "theme_day"}


def test_yearly_reminders_start_in_november() -> None:
    late_yearly = {"organizational_life_meeting", "democratic_appraisal"}
    all_yearly = {*late_yearly, "secretary_lecture"}

    def yearly_due(today: date) -> set[str]:
        return {key for key, _ in due_keys(today)} & all_yearly

    assert yearly_due(date(2026, 10, 31)) == set()
    assert yearly_due(date(2026, 11, 1)) == late_yearly
    assert yearly_due(date(2026, 11, 2)) == set()
    assert yearly_due(date(2026, 12, 25)) == all_yearly  # 25..31 December = 7 days
    assert yearly_due(date(2026, 12, 30)) == all_yearly
    held_early = [held(K.ORGANIZATIONAL_LIFE_MEETING, K.DEMOCRATIC_APPRAISAL, on=date(2026, 3, 1))]
    assert {key for key, _ in due_keys(date(2026, 11, 1), held_early)} & all_yearly == set()


def test_active_from_month_blocks_reminders_before_it() -> None:
    early = Requirement("x", "x", K.OTHER, Period.YEAR, 1, "basis", active_from_month=11, remind_days_before=(300,))
    assert unmet_due([early], [], date(2026, 3, 7), {}) == []  # 300 days left, but before November
    unrestricted = Requirement("y", "y", K.OTHER, Period.YEAR, 1, "basis", remind_days_before=(300,))
    assert len(unmet_due([unrestricted], [], date(2026, 3, 7), {})) == 1


# --- formatting ---


def test_format_progress_shape() -> None:
    activities = [
        held(K.COMMITTEE_MEETING, on=date(2026, 11, 3)),
        held(K.PARTY_GROUP_MEETING, on=date(2026, 11, 4), group=1),
        held(K.MEMBERS_MEETING, on=date(2026, 10, 9)),
    ]
    text = format_progress(evaluate(REQUIREMENTS, activities, date(2026, 11, 27), GROUPS))
    assert text.splitlines() == [
        "📋 组织生活进度",
        "",
        "本月（2026年11月）",
        "✅ 支委会 1/1",
        "党小组会：",
        "\u3000\u3000✅ 第一党小组 1/1",
        "\u3000\u3000⚠️ 第二党小组 0/1（还剩 4 天）",
        "⚠️ 主题党日 0/1（还剩 4 天）",
        "",
        "本季度（2026年第四季度）",
        "✅ 支部党员大会 1/1",
        "⚠️ 党课 0/1（还剩 35 天）",
        "",
        "本年度（2026年）",
        "⚠️ 书记讲党课 0/1（还剩 35 天）",
        "⚠️ 组织生活会 0/1（还剩 35 天）",
        "⚠️ 民主评议党员 0/1（还剩 35 天）",
        "",
        "注：党课按季度是多数地方的做法，以上级要求为准。",
        "注：书记讲党课是地方做法，不是条例原文；条例第十六条要求的是党委（党组）书记每年至少讲1次党课。以上级要求为准。",
    ]


def test_format_progress_without_groups_and_without_local_practice() -> None:
    table = [r for r in REQUIREMENTS if r.period is Period.MONTH]
    text = format_progress(evaluate(table, [], date(2026, 11, 27), {}))
    assert "➖ 党小组会：本支部未划分党小组，不适用" in text.splitlines()
    assert "本季度" not in text and "本年度" not in text and "注：" not in text


def test_format_progress_with_nothing_to_check() -> None:
    assert format_progress([]) == "没有需要检查的要求。"
