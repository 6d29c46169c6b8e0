"""The 台账: periods, who was expected, present, on leave and absent, the XLSX and CSV files, and /export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import openpyxl
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import ActivityKind, ActivityStatus, AttendanceStatus, RequirementOverride
from bot.services.ledger import (
    COLUMNS,
    LedgerFormat,
    LedgerPeriod,
    export_ledger,
    ledger_csv,
    load_ledger,
    parse_period,
    render_ledger,
)
from bot.services.requirements import Period
from tests.progress.conftest import DEPUTY, ORGANIZER, SHANGHAI, World, add_activity, local
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, messages, plain

K = ActivityKind
P, L, A = AttendanceStatus.PRESENT, AttendanceStatus.LEAVE, AttendanceStatus.ABSENT
NOW = local(2026, 11, 20, 12).astimezone(UTC)
KIND_SHEETS = [kind.value for kind in ActivityKind]


@pytest.mark.parametrize(
    ("text", "unit", "start", "end", "code", "label"),
    [
        ("2026Q4", Period.QUARTER, date(2026, 10, 1), date(2027, 1, 1), "2026Q4", "2026年第四季度"),
        ("2026q1", Period.QUARTER, date(2026, 1, 1), date(2026, 4, 1), "2026Q1", "2026年第一季度"),
        ("2026-11", Period.MONTH, date(2026, 11, 1), date(2026, 12, 1), "2026-11", "2026年11月"),
        ("２０２６-3", Period.MONTH, date(2026, 3, 1), date(2026, 4, 1), "2026-03", "2026年3月"),
        ("2026", Period.YEAR, date(2026, 1, 1), date(2027, 1, 1), "2026", "2026年"),
    ],
)
def test_parse_period(text: str, unit: Period, start: date, end: date, code: str, label: str) -> None:
    period = parse_period(text)
    assert (period.unit, period.start, period.end, period.code, period.label) == (unit, start, end, code, label)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("2026Q5", "没有第5季度"), ("2026-13", "没有13月"), ("下个月", "看不懂统计期「下个月」"), ("26Q4", "看不懂")],
)
def test_parse_period_errors_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_period(text)


async def seed_november(sessions: async_sessionmaker[AsyncSession], world: World) -> dict[str, int]:
    """A 支委会, a 党小组会 of 第二党小组, a 主题党日 that is also a 党员大会, a planned 党课; one in October."""
    ids = world.member_ids
    return {
        "committee": await add_activity(
            sessions,
            world.branch_id,
            K.COMMITTEE_MEETING,
            local(2026, 11, 5, 15),
            topic="研究发展党员工作",
            place="三楼会议室",
            minutes="=会议决定：按期接收预备党员",
            attendance={ids["李明"]: (P, None, None), ids["赵强"]: (L, "出差", "在北京开会")},
        ),
        "group": await add_activity(
            sessions,
            world.branch_id,
            K.PARTY_GROUP_MEETING,
            local(2026, 11, 10, 19),
            party_group_id=world.group_ids["第二党小组"],
            attendance={ids["刘洋"]: (P, None, None)},
        ),
        "theme_day": await add_activity(
            sessions,
            world.branch_id,
            K.THEME_DAY,
            local(2026, 11, 15, 9),
            also=[K.MEMBERS_MEETING],
            topic="学习党的二十届四中全会精神",
            attendance={ids["李明"]: (P, None, None), ids["王芳"]: (A, None, None), ids["刘洋"]: (L, "生病", None)},
        ),
        "planned": await add_activity(
            sessions,
            world.branch_id,
            K.PARTY_LECTURE,
            local(2026, 11, 28, 14),
            status=ActivityStatus.PLANNED,
            lecturer="李明",
            by_secretary=True,
        ),
        "october": await add_activity(sessions, world.branch_id, K.COMMITTEE_MEETING, local(2026, 10, 9)),
    }


async def test_ledger_rows_expected_present_leave_absent(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    await seed_november(sessions, world)
    await add_activity(sessions, world.other_branch_id, K.COMMITTEE_MEETING, local(2026, 11, 5))
    async with sessions() as session:
        ledger = await load_ledger(session, world.branch_id, parse_period("2026-11"), NOW)
    rows = {row.activity.kind: row for row in ledger.rows}
    assert [row.starts_at.day for row in ledger.rows] == [5, 10, 15, 28]

    committee = rows[K.COMMITTEE_MEETING]  # the committee: 书记, 副书记, 组织委员
    assert (committee.expected, committee.present, committee.on_leave, committee.absent) == (
        3,
        ["李明"],
        ["赵强（出差：在北京开会）"],
        ["孙伟"],
    )
    group = rows[K.PARTY_GROUP_MEETING]  # 第二党小组 only: 刘洋 and 陈红
    assert (group.expected, group.present, group.absent) == (2, ["刘洋"], ["陈红"])
    theme_day = rows[K.THEME_DAY]  # everyone (6); 王芳 marked absent, 4 never recorded
    assert theme_day.kinds == (K.MEMBERS_MEETING, K.THEME_DAY)
    assert (theme_day.expected, theme_day.present, theme_day.on_leave) == (6, ["李明"], ["刘洋（生病）"])
    assert theme_day.absent == ["孙伟", "赵强", "王芳", "陈红"]
    planned = rows[K.PARTY_LECTURE]
    assert (planned.expected, planned.absent) == (6, [])


async def test_ledger_summary_checks_each_period_with_local_minimums(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    await seed_november(sessions, world)
    async with sessions() as session:
        session.add(RequirementOverride(branch_id=world.branch_id, requirement_key="committee_meeting", minimum=2))
        await session.commit()
        ledger = await load_ledger(session, world.branch_id, parse_period("2026Q4"), NOW)
    lines = {(line.requirement.key, line.period_label, line.scope): line for line in ledger.compliance}
    assert [(k[1], lines[k].held, lines[k].minimum, lines[k].state) for k in lines if k[0] == "committee_meeting"] == [
        ("2026年10月", 1, 2, "未达标"),
        ("2026年11月", 1, 2, "进行中"),
        ("2026年12月", 0, 2, "未开始"),
    ]
    assert lines[("members_meeting", "2026年第四季度", "本支部")].state == "达标"
    assert lines[("party_group_meeting", "2026年11月", "第二党小组")].state == "达标"
    assert lines[("party_group_meeting", "2026年10月", "第一党小组")].state == "未达标"
    assert lines[("secretary_lecture", "2026年", "本支部")].held == 0  # the 党课 by the secretary is only planned


async def test_xlsx_has_summary_and_one_sheet_per_kind(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    await seed_november(sessions, world)
    async with sessions() as session:
        exported = await export_ledger(session, world.branch_id, parse_period("2026-11"), NOW, LedgerFormat.XLSX)
    assert (exported.filename, exported.period_label, exported.activities) == (
        "第一党支部_台账_2026-11.xlsx",
        "2026年11月",
        4,
    )
    workbook = openpyxl.load_workbook(io.BytesIO(exported.content))
    assert workbook.sheetnames == ["汇总", *KIND_SHEETS]

    committee = workbook["支委会"]
    header = [cell.value for cell in committee[1]]
    assert header[:4] == ["序号", "日期", "时间", "活动类型"]
    assert all(cell.font.b for cell in committee[1])
    assert committee.freeze_panes == "A2"
    assert committee.column_dimensions["N"].width == 40
    row = dict(zip(header, [cell.value for cell in committee[2]], strict=True))
    assert row["日期"] == "2026-11-05 周四"
    assert row["时间"] == "15:00"
    assert (row["主题"], row["地点"], row["状态"]) == ("研究发展党员工作", "三楼会议室", "已召开")
    assert (row["应到"], row["实到"], row["请假"], row["缺席"]) == (3, 1, 1, 1)
    assert (row["实到人员"], row["请假人员"], row["缺席人员"]) == ("李明", "赵强（出差：在北京开会）", "孙伟")
    assert row["会议记录"] == "=会议决定：按期接收预备党员"  # stays text, never a formula
    assert committee.max_row == 2

    # the 主题党日 that was also a 党员大会 is on both sheets
    for sheet in ("主题党日", "支部党员大会"):
        assert workbook[sheet]["F2"].value == "学习党的二十届四中全会精神"
        assert workbook[sheet]["D2"].value == "支部党员大会、主题党日"
    lecture = dict(zip(header, [cell.value for cell in workbook["党课"][2]], strict=True))
    assert (lecture["主讲人"], lecture["状态"], lecture["缺席"]) == ("李明（书记）", "计划中", None)
    assert workbook["组织生活会"].max_row == 1

    summary = [[cell.value for cell in row] for row in workbook["汇总"].iter_rows()]
    assert summary[0][:6] == ["要求", "统计期", "范围", "应开（次）", "已开（次）", "情况"]
    assert summary[2][:6] == ["支委会 每月至少1次", "2026年11月", "本支部", 1, 1, "达标"]
    kinds_header = summary.index(["活动类型", "已召开", "计划中", "已取消", None, None, None])
    counts = {row[0]: row[1:4] for row in summary[kinds_header + 1 :]}
    assert counts["支部党员大会"] == [1, 0, 0]
    assert counts["党课"] == [0, 1, 0]


async def test_csv_is_one_table_with_bom_and_no_formulas(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    await seed_november(sessions, world)
    async with sessions() as session:
        ledger = await load_ledger(
            session, world.branch_id, LedgerPeriod.containing(Period.YEAR, date(2026, 5, 1)), NOW
        )
    content = ledger_csv(ledger)
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [row["日期"][:10] for row in rows] == ["2026-10-09", "2026-11-05", "2026-11-10", "2026-11-15", "2026-11-28"]
    assert rows[1]["会议记录"] == "'=会议决定：按期接收预备党员"
    assert rows[3]["活动类型"] == "支部党员大会、主题党日"
    assert rows[3]["缺席人员"] == "孙伟、赵强、王芳、陈红"
    assert render_ledger(ledger, LedgerFormat.CSV).filename == "第一党支部_台账_2026.csv"


# -- /export through the Application -------------------------------------------------------------------------------


async def test_export_sends_the_xlsx_privately(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    await seed_november(sessions, world)
    (sent,) = await bot.send("/export 2026Q4", user=ORGANIZER)
    assert sent.method == "sendDocument" and sent.params["chat_id"] == ORGANIZER["id"]
    file_name, content = sent.files["document"]
    assert file_name == "第一党支部_台账_2026Q4.xlsx"
    assert sent.params["caption"] == "第一党支部 2026年第四季度台账，共 5 项活动。"
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    assert [workbook["支委会"].cell(row, 2).value[:10] for row in (2, 3)] == ["2026-10-09", "2026-11-05"]


async def test_export_csv_and_default_period(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    (sent,) = await bot.send("/export 2026-11 csv", user=ALICE)
    file_name, content = sent.files["document"]
    assert file_name == "第一党支部_台账_2026-11.csv"
    assert content.decode("utf-8-sig").splitlines() == [",".join(header for header, _ in COLUMNS)]

    today = datetime.now(SHANGHAI).date()
    (current,) = await bot.send("/export", user=ALICE)
    assert current.files["document"][0] == f"第一党支部_台账_{today.year}Q{(today.month - 1) // 3 + 1}.xlsx"


async def test_export_in_the_group_goes_to_the_private_chat(bot: ChatHarness, world: World) -> None:
    calls = await bot.send("/export 2026", user=ALICE, chat=GROUP)
    assert [(c.method, c.params["chat_id"]) for c in calls] == [
        ("sendDocument", ALICE["id"]),
        ("sendMessage", GROUP["id"]),
    ]
    assert plain(calls[1]) == "台账含党员个人信息，已私信发给您。"

    # the 副书记 has never opened a private chat with the bot: nothing can be sent, and they are told how
    (told,) = await bot.send("/export 2026", user=DEPUTY, chat=GROUP)
    assert told.method == "sendMessage" and "请先私聊我发送 /start" in plain(told)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("/export 2026Q5", "没有第5季度"), ("/export 明年", "看不懂统计期「明年」"), ("/export 2026 2025", "参数太多")],
)
async def test_export_bad_period_gives_usage_with_examples(
    bot: ChatHarness, world: World, text: str, reason: str
) -> None:
    calls = await bot.send(text, user=ALICE)
    (usage,) = messages(calls)
    assert len(calls) == 1
    assert plain(usage).startswith(reason)
    for example in ("/export 2026Q4", "/export 2026-11", "/export 2026", "/export 2026 csv"):
        assert example in plain(usage)


async def test_export_refused_for_a_plain_member(bot: ChatHarness, world: World) -> None:
    (refusal,) = await bot.send("/export 2026", user=BOB)
    assert plain(refusal) == "「导出台账」需要由书记、副书记、组织委员操作，您目前的身份是党员。"
