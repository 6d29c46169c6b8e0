"""Dues and head-count calculators: bracket edges, number formats, quorum arithmetic, and what is not a sum."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.calculators import Calculation, calculate
from knowledge.dues_calculator import DUES_TITLE
from knowledge.vote_calculator import BRANCH_TITLE, ELECTION_TITLE, RECRUIT_TITLE

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "dev" / "calculators.jsonl"


def _calc(question: str) -> Calculation:
    result = calculate(question)
    assert result is not None, question
    return result


# --- dues: in-service brackets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "due"),
    [
        ("2000", "0.5%", "10.00"),
        ("3000", "0.5%", "15.00"),
        ("3000.01", "1%", "30.00"),
        ("5000", "1%", "50.00"),
        ("5000.01", "1.5%", "75.00"),
        ("6000", "1.5%", "90.00"),
        ("10000", "1.5%", "150.00"),
        ("10000.01", "2%", "200.00"),
        ("20000", "2%", "400.00"),
    ],
)
def test_in_service_bracket_edges(amount: str, rate: str, due: str) -> None:
    result = _calc(f"工资{amount}交多少党费")
    assert result.kind == "dues"
    assert f"按 {rate} 交纳" in result.answer
    assert f"每月 {due} 元" in result.answer
    assert result.title == DUES_TITLE
    assert result.section.startswith("第二条")


def test_in_service_answer_reads_as_specified() -> None:
    answer = _calc("工资6000交多少党费").answer
    assert answer.startswith("月收入 6000 元属于 5000 元以上至 10000 元（含）这一档，按 1.5% 交纳，每月 90.00 元。")
    assert "不分段累进" in answer
    assert "相对固定的、经常性的税后收入" in answer
    assert "支部" in answer


def test_rounding_to_cents_is_half_up() -> None:
    assert "每月 45.01 元" in _calc("工资4500.5交多少党费").answer  # 45.005
    assert "每月 6.17 元" in _calc("工资1234.5党费多少").answer  # 6.1725


@pytest.mark.parametrize(
    ("question", "amount"),
    [
        ("月薪六千党费多少", "6000"),
        ("工资6千交多少党费", "6000"),
        ("工资4千8交多少党费", "4800"),
        ("月收入四千八党费多少", "4800"),
        ("工资1.2万交多少党费", "12000"),
        ("工资一万二交多少党费", "12000"),
        ("工资6,000交多少党费", "6000"),
        ("工资６０００交多少党费", "6000"),
        ("工资12000元党费多少", "12000"),
        ("工資6000交多少黨費", "6000"),
        ("税后4800每月党费", "4800"),
        ("一般来说工资3500，党费交多少", "3500"),
    ],
)
def test_amount_formats(question: str, amount: str) -> None:
    assert f"月收入 {amount} 元" in _calc(question).answer


def test_income_question_without_the_word_dues() -> None:
    result = _calc("工资6000交多少")
    assert result.kind == "dues"
    assert calculate("工资6000交多少税") is None


def test_pretax_amount_is_flagged() -> None:
    answer = _calc("税前8000党费交多少").answer
    assert "月收入 8000 元" in answer
    assert "您给的是税前数额，党费应按税后收入计算，请换成税后数额再核对。" in answer


@pytest.mark.parametrize(
    "question",
    [
        "税前8000，税后6500交多少党费",
        "税后6500，税前8000，党费交多少",
        "8000税前、6500税后，党费多少",
        "8000税前6500税后，党费交多少",
        "工资税前8千税后6千5，交多少党费",
    ],
)
def test_after_tax_amount_is_used_when_both_are_given(question: str) -> None:
    result = _calc(question)
    assert result.kind == "dues"
    assert result.answer.startswith("党费按税后收入计算，所以用您给的税后 6500 元，不用税前的 8000 元。")
    assert "月收入 6500 元" in result.answer
    assert "每月 97.50 元" in result.answer  # 6500 × 1.5 %, not 8000 × 1.5 % = 120
    assert "月收入 8000 元" not in result.answer
    assert "请换成税后数额" not in result.answer


def test_after_tax_amount_alone_needs_no_tax_note() -> None:
    answer = _calc("税后6500交多少党费").answer
    assert answer.startswith("月收入 6500 元")
    assert "税前" not in answer


def test_retiree_with_both_amounts_uses_what_is_received() -> None:
    answer = _calc("退休金税前6000税后5800党费多少").answer
    assert answer.startswith("离退休党员以实际领取的数额为基数，所以用您给的税后 5800 元，不用税前的 6000 元。")
    assert "每月 58.00 元" in answer


# --- dues: other categories --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "rate", "due"),
    [
        ("退休金4800交多少", "0.5%", "24.00"),
        ("退休党员养老金5000党费多少", "0.5%", "25.00"),
        ("退休金5001交多少党费", "1%", "50.01"),
        ("养老金6000党费", "1%", "60.00"),
        ("离休费12000交多少党费", "1%", "120.00"),
    ],
)
def test_retiree_brackets(question: str, rate: str, due: str) -> None:
    result = _calc(question)
    assert result.kind == "dues"
    assert f"按 {rate} 交纳" in result.answer
    assert f"每月 {due} 元" in result.answer
    assert "离退休" in result.section


def test_retiree_without_amount_gives_the_rule() -> None:
    answer = _calc("退休党员党费收缴标准").answer
    assert "0.5%" in answer
    assert "1%" in answer


@pytest.mark.parametrize(
    "question", ["学生党员交多少党费", "研究生党员党费多少", "下岗党员党费交多少", "领低保的党员党费怎么算"]
)
def test_fixed_rate_members(question: str) -> None:
    result = _calc(question)
    assert "0.2 元" in result.answer
    assert "%" not in result.answer


def test_student_with_an_amount_still_pays_the_fixed_rate() -> None:
    assert "0.2 元" in _calc("学生党员有奖学金3000，交多少党费").answer


def test_farmer() -> None:
    result = _calc("农民党员党费")
    assert "0.2 元至 1 元" in result.answer
    assert "省" in result.answer
    assert result.section == "农民党员交纳标准"


def test_annual_salary() -> None:
    general = _calc("年薪制党员党费怎么算")
    assert "当月实际领取的薪酬" in general.answer
    assert "每月" not in general.answer  # no amount worked out from an annual figure
    assert _calc("年薪24万交多少党费").answer == general.answer
    monthly = _calc("年薪制，这个月实发1万2，交多少党费")
    assert "每月 240.00 元" in monthly.answer
    assert "年薪制" in monthly.answer


@pytest.mark.parametrize(
    ("question", "shown"),
    [
        ("工资0交多少党费", "0 元"),
        ("工资0.3交多少党费", "0.3 元"),
        ("工资-5000交多少党费", "-5000 元"),
        ("工资负5000交多少党费", "-5000 元"),
        ("工资20000000交多少党费", "20000000 元"),
        ("工资" + "9" * 60 + "交多少党费", "9" * 60 + " 元"),
    ],
)
def test_absurd_amounts_ask_for_the_monthly_income(question: str, shown: str) -> None:
    result = _calc(question)
    assert result.kind == "dues"
    assert result.answer.startswith(shown)
    assert "税后收入" in result.answer
    assert "每月" in result.answer


def test_the_ceiling_itself_is_still_computed() -> None:
    assert "每月 200000.00 元" in _calc("工资10000000交多少党费").answer


def test_malformed_numerals_do_not_crash() -> None:
    assert calculate("工资0十2交多少党费") is None  # cn2an raises KeyError on this mix
    assert calculate("8千万4十9四二个正式党员，至少几人到会") is not None


# --- head counts: 党员大会 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "need"), [(1, 1), (3, 2), (7, 4), (21, 11), (49, 25)])
def test_ordinary_vote_at_odd_head_counts(n: int, need: int) -> None:
    result = _calc(f"{n}个正式党员，党员大会表决表彰事项至少几人到会")
    assert result.kind == "votes"
    assert f"有表决权的正式党员 {n} 名" in result.answer
    assert "适用规则：一般事项的表决（支部工作条例第十一条）" in result.answer
    assert f"即至少 {need} 人到会" in result.answer
    assert f"即至少 {need} 票" in result.answer
    assert "应到" in result.answer
    assert "各地理解不一" not in result.answer  # an odd count has no half to argue about
    assert result.title == BRANCH_TITLE
    assert result.section.startswith("第十一条")


@pytest.mark.parametrize(("n", "half"), [(2, 1), (10, 5), (20, 10), (50, 25)])
def test_ordinary_vote_at_even_head_counts_gives_both_readings(n: int, half: int) -> None:
    # 条例 第十一条 says "半数以上" present. Earlier versions answered "超过半数" (half + 1) as if it were settled;
    # whether exactly half is enough is read both ways, so the answer gives both and claims neither.
    answer = _calc(f"{n}个正式党员，党员大会表决处分决定至少几人到会").answer
    assert "“半数以上”" in answer
    assert f"恰好 {half} 人到会算不算够" in answer
    assert "各地理解不一" in answer
    assert f"{half} 人即可" in answer
    assert f"至少 {half + 1} 人" in answer
    assert "上级党组织的口径为准" in answer
    assert f"即至少 {half + 1} 票" in answer  # passing is "超过" half of the expected: no ambiguity
    assert "可以表决" not in answer and "不能表决" not in answer


@pytest.mark.parametrize(
    ("expected", "present", "verdict"),
    [
        (20, 10, "实到 10 人，恰好一半，能否表决请按上级党组织的口径确定。"),
        (20, 11, "实到 11 人，已超过半数，可以表决。"),
        (21, 10, "实到 10 人，不到半数，不能表决。"),
        (21, 11, "实到 11 人，已超过半数，可以表决。"),
    ],
)
def test_ordinary_vote_present_counts(expected: int, present: int, verdict: str) -> None:
    result = _calc(f"党员大会表决一般事项，应到{expected}人，实到{present}人，能表决吗")
    assert result.title == BRANCH_TITLE
    assert "适用规则：一般事项的表决" in result.answer
    assert verdict in result.answer
    if (expected, present) == (20, 10):  # exactly half: neither reading is claimed
        assert "不能表决" not in result.answer and "可以表决" not in result.answer


@pytest.mark.parametrize(
    ("expected", "present", "verdict"),
    [
        (20, 10, "实到 10 人，没有超过半数，不能表决。"),
        (20, 11, "实到 11 人，已超过半数，可以表决。"),
        (21, 10, "实到 10 人，没有超过半数，不能表决。"),
        (21, 11, "实到 11 人，已超过半数，可以表决。"),
    ],
)
def test_accepting_a_probationary_member_present_counts(expected: int, present: int, verdict: str) -> None:
    result = _calc(f"支部大会讨论接收预备党员，应到{expected}人，实到{present}人，能表决吗")
    assert result.title == RECRUIT_TITLE
    assert result.section.startswith("第二十条、第二十一条、第三十三条")
    assert "适用规则：接收预备党员、预备党员转正的表决" in result.answer
    assert "一般事项" not in result.answer
    assert f"即至少 {expected // 2 + 1} 人到会" in result.answer
    assert f"即至少 {expected // 2 + 1} 票" in result.answer
    assert verdict in result.answer
    assert "各地理解不一" not in result.answer  # the 细则 says 超过半数: exactly half is not enough


def test_accepting_and_confirming_state_secret_ballot_and_written_opinions() -> None:
    for question in ("接收预备党员，20个正式党员，至少几人到会", "预备党员转正，应到21人，赞成几票通过"):
        answer = _calc(question).answer
        assert "无记名投票" in answer
        assert "书面意见" in answer and "统计在票数内" in answer
        assert "逐个表决" in answer


@pytest.mark.parametrize(
    ("question", "ordinary_need", "recruit_need"),
    [
        ("21个正式党员，党员大会至少几人到会", "即至少 11 人到会；", "即至少 11 人到会才能表决"),
        ("20个正式党员，党员大会至少几人到会", "至少 11 人）", "即至少 11 人到会才能表决"),
    ],
)
def test_vote_subject_not_stated_gives_both_rules(question: str, ordinary_need: str, recruit_need: str) -> None:
    result = _calc(question)
    assert result.title == f"{BRANCH_TITLE}；{RECRUIT_TITLE}"
    assert "没有说明表决什么事项" in result.answer
    ordinary, recruit = result.answer.split("\n二、")
    assert "一、一般事项的表决（支部工作条例第十一条）" in ordinary
    assert ordinary_need in ordinary
    assert recruit.startswith("接收预备党员、预备党员转正的表决（发展党员工作细则第二十条、第二十一条、第三十三条）")
    assert recruit_need in recruit
    assert "书面意见" in recruit and "书面意见" not in ordinary


def test_both_rules_judge_the_same_attendance_differently() -> None:
    answer = _calc("应到20人，实到10人，能表决吗").answer
    ordinary, recruit = answer.split("\n二、")
    assert "实到 10 人，恰好一半，能否表决请按上级党组织的口径确定。" in ordinary
    assert "实到 10 人，没有超过半数，不能表决。" in recruit
    answer = _calc("应到21人，实到11人，能表决吗").answer
    assert answer.count("实到 11 人，已超过半数，可以表决。") == 2


def test_small_branch_gets_a_hint() -> None:
    assert "联合党支部" in _calc("2个正式党员开会至少几人到会").answer
    assert "联合党支部" not in _calc("20个正式党员开会至少几人到会").answer


def test_formal_and_probationary_listed_separately() -> None:
    answer = _calc("23个正式党员3个预备党员，至少几人到会").answer
    assert "23 名正式党员" in answer
    assert "3 名预备党员没有表决权" in answer
    assert "即至少 12 人" in answer


@pytest.mark.parametrize(
    "question",
    ["23个党员其中3个预备党员，开会要到几个人", "我们支部23个党员，其中预备党员3个，开党员大会要到多少人"],
)
def test_probationary_members_are_subtracted_from_the_total(question: str) -> None:
    answer = _calc(question).answer
    assert "有表决权的正式党员为 20 名" in answer
    assert "即至少 11 人" in answer


def test_total_without_breakdown_is_stated_as_an_assumption() -> None:
    answer = _calc("我们有20个党员，开会至少几人到会").answer
    assert "按 20 名都是正式党员计算" in answer
    assert "即至少 11 人" in answer


def test_chinese_numerals_in_counts() -> None:
    answer = _calc("二十个正式党员三个预备党员，至少几人到会").answer
    assert "20 名正式党员" in answer
    assert "3 名预备党员" in answer


def test_spoken_numerals_are_counts() -> None:
    answer = _calc("我们支部5个党员，今天只来了仨，能开大会吗").answer
    assert answer.count("实到 3 人，已超过半数，可以表决。") == 2
    assert "实到 2 人，不到半数，不能表决。" in _calc("支部5个党员，就来了俩，一般事项能表决吗").answer


def test_present_and_yes_votes_are_checked_against_expected_attendance() -> None:
    answer = _calc("应到20人，实到15人，赞成9票，能通过吗").answer
    assert answer.count("实到 15 人，已超过半数，可以表决。") == 2  # both rules, the subject is not stated
    assert answer.count("赞成 9 票，没有超过应到会有表决权党员的一半，不能通过。") == 2


def test_against_votes_are_not_yes_votes() -> None:
    answer = _calc("20个正式党员，赞成12票反对3票，通过了吗").answer
    assert "赞成 12 票" in answer
    assert "，通过。" in answer


def test_recruitment_cites_the_recruitment_rules() -> None:
    result = _calc("接收预备党员，支部18个正式党员，赞成票至少要几票")
    assert result.title == RECRUIT_TITLE
    assert "即至少 10 票" in result.answer
    assert "逐个表决" in result.answer
    confirmation = _calc("预备党员转正大会，12个党员其中2个预备党员，几票才能通过")
    assert confirmation.title == RECRUIT_TITLE
    assert "有表决权的正式党员为 10 名" in confirmation.answer
    assert "即至少 6 票" in confirmation.answer


def test_meeting_rule_in_general_terms() -> None:
    for question in ("赞成几票通过", "多少人到会才算有效", "党员大会法定人数是多少"):
        result = _calc(question)
        assert result.kind == "votes"
        assert "过半数" in result.answer or "超过半数" in result.answer
        assert "应到会" in result.answer


# --- head counts: elections --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "quorum", "elected"), [(10, 9, 6), (20, 17, 11), (23, 19, 12), (25, 21, 13), (30, 25, 16)]
)
def test_election_four_fifths(n: int, quorum: int, elected: int) -> None:
    result = _calc(f"换届选举有选举权的{n}人，至少到会多少")
    assert result.title == ELECTION_TITLE
    assert f"应到会有选举权的党员 {n} 名" in result.answer
    assert f"即至少 {quorum} 人" in result.answer
    assert f"即至少 {elected} 票" in result.answer


def test_election_exactly_four_fifths_is_not_enough() -> None:
    answer = _calc("选举时应到会20人实到16人，选举有效吗").answer
    assert "20 × 4/5 = 16" in answer
    assert "选举无效" in answer
    assert "选举有效" in _calc("选举时应到会20人实到17人，选举有效吗").answer


def test_election_rule_in_general_terms() -> None:
    result = _calc("选举要多少人到场")
    assert result.title == ELECTION_TITLE
    assert "4/5" in result.answer
    assert "17" in result.answer


# --- head counts: 支委会 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "quorum"), [(3, 2), (5, 3), (7, 4)])
def test_committee_quorum(k: int, quorum: int) -> None:
    result = _calc(f"支委会{k}个委员几个人到才能开")
    assert result.section.startswith("第十二条")
    assert f"支委会 {k} 名委员" in result.answer
    assert f"即至少 {quorum} 名委员到会" in result.answer


def test_committee_present_count() -> None:
    assert "不能召开" in _calc("支委会7人到了3人能开吗").answer


# --- not calculations --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "党费怎么算",
        "交党费标准和计算方法",
        "党费能一次交一年吗",
        "连续6个月不交党费算脱党吗",
        "预备党员从什么时候开始交党费",
        "2008年的党费规定还有效吗",
        "党员大会多久开一次",
        "我们20个党员，党员大会多久开一次",
        "预备党员有表决权吗",
        "发展党员大会上预备党员有表决权吗",
        "20个党员，预备党员能不能投票",
        "支委会几个人",
        "我们5个党员要不要设支委会",
        "我们支部有7个正式党员，要选举支委吗",
        "几个人可以成立支部",
        "开会人数不够怎么办",
        "过半怎么算",
        "选举几年一次",
        "三会一课多久一次",
        "黨小組會有沒有到會人數要求",
        "这次有三个预备党员转正，能一块儿举手表决吗",
        "400、600、800那个老的党费标准还能用吗",
        "以前的党费最高3%现在还算数吗",
        "支委会上书记有没有一票否决权",  # a veto, not a count of votes
        "中共一大召开时全国有多少党员",  # history, not a branch's meeting
        "党员代表大会要到多少代表才有效",  # not the branch assembly's rule
        "退休党员交了几十年党费，退休后有没有额外的补贴",  # what a member receives
        "村民代表会议要多少人到场才有效",  # another body
        "我们支部15个党员，一年能拿到多少活动经费",  # money a branch receives, not who attends
        "支部9个党员，考核能评到几星",
        "",
    ],
)
def test_not_a_calculation(question: str) -> None:
    assert calculate(question) is None


def test_a_morning_is_no_congress() -> None:
    result = calculate("一大早到了11个，应到20个党员，党员大会能开吗")
    assert result is not None and result.kind == "votes"


def test_an_allowance_received_is_still_income_when_dues_are_asked() -> None:
    result = calculate("我研究生在读，每月有点补助，党费咋算")
    assert result is not None and "0.2" in result.answer


# --- dev set used by the QA benchmark ----------------------------------------------------------------------------


def _dev_rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_dev_set_shape() -> None:
    rows = _dev_rows()
    expects = [row["expect"] for row in rows]
    assert sum(e.startswith("calc:") for e in expects) >= 25
    assert expects.count("not-calc") >= 8
    assert set(expects) <= {"calc:dues", "calc:votes", "not-calc"}


@pytest.mark.parametrize("row", _dev_rows(), ids=lambda row: row["q"])
def test_dev_set(row: dict[str, str]) -> None:
    result = calculate(row["q"])
    got = "not-calc" if result is None else f"calc:{result.kind}"
    assert got == row["expect"]
