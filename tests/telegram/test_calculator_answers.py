"""Quorum and dues sums through the real Application: a private question in, the worked answer and its source out.

Each question travels as Telegram would send it: an Update serialised to JSON and read back by PTB. The answers
come from knowledge.calculators, which run before any passage is ranked, so the small fixed answerer is enough.
"""

from __future__ import annotations

import json

import pytest

from tests.telegram.helpers import ALICE, ChatHarness, buttons, messages, plain

ORDINARY_RULE = "适用规则：一般事项的表决（支部工作条例第十一条）。"
RECRUIT_RULE = "适用规则：接收预备党员、预备党员转正的表决（发展党员工作细则第二十条、第二十一条、第三十三条）。"
BRANCH_SOURCE = "来源：《中国共产党支部工作条例（试行）》（2018） 第十一条"
RECRUIT_SOURCE = "来源：《中国共产党发展党员工作细则》（2014） 第二十条、第二十一条、第三十三条"


async def ask(bot: ChatHarness, question: str) -> str:
    """Send ``question`` as a private message, via JSON like the wire, and return the one reply as the user sees it."""
    update = json.loads(json.dumps(bot.api.user_message(question, user=ALICE), ensure_ascii=False))
    assert update["message"]["chat"]["type"] == "private"
    (reply,) = messages(await bot.process(update))
    assert reply.params["chat_id"] == ALICE["id"]
    assert buttons(reply) == []  # a worked sum offers no related passages
    return plain(reply)


# -- 党员大会, ordinary matters (条例 第十一条) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "present", "verdict"),
    [
        (20, 10, "实到 10 人，恰好一半，能否表决请按上级党组织的口径确定。"),
        (20, 11, "实到 11 人，已超过半数，可以表决。"),
        (21, 10, "实到 10 人，不到半数，不能表决。"),
        (21, 11, "实到 11 人，已超过半数，可以表决。"),
    ],
)
async def test_ordinary_vote_quorum(test_bot: ChatHarness, expected: int, present: int, verdict: str) -> None:
    text = await ask(test_bot, f"党员大会表决表彰事项，应到{expected}人，实到{present}人，能表决吗？")
    assert ORDINARY_RULE in text
    assert verdict in text
    assert f"即至少 {expected // 2 + 1} 票才算通过" in text
    assert BRANCH_SOURCE in text
    if expected % 2 == 0:
        assert "各地理解不一" in text and f"{expected // 2} 人即可" in text and f"至少 {expected // 2 + 1} 人" in text
    else:
        assert "各地理解不一" not in text and f"即至少 {expected // 2 + 1} 人到会" in text
    if present * 2 == expected:
        assert "可以表决" not in text and "不能表决" not in text


# -- 党员大会, accepting or confirming a 预备党员 (细则) --------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "present", "verdict"),
    [
        (20, 10, "实到 10 人，没有超过半数，不能表决。"),
        (20, 11, "实到 11 人，已超过半数，可以表决。"),
        (21, 10, "实到 10 人，没有超过半数，不能表决。"),
        (21, 11, "实到 11 人，已超过半数，可以表决。"),
    ],
)
async def test_accepting_a_probationary_member_quorum(
    test_bot: ChatHarness, expected: int, present: int, verdict: str
) -> None:
    text = await ask(test_bot, f"支部大会讨论接收预备党员，应到{expected}人，实到{present}人，能表决吗？")
    assert RECRUIT_RULE in text
    assert f"即至少 {expected // 2 + 1} 人到会才能表决" in text
    assert verdict in text
    assert "无记名投票" in text
    assert "书面意见" in text and "统计在票数内" in text
    assert "各地理解不一" not in text
    assert RECRUIT_SOURCE in text


async def test_confirmation_vote_follows_the_same_rule(test_bot: ChatHarness) -> None:
    text = await ask(test_bot, "预备党员转正，应到21人，实到11人，赞成10票，通过了吗")
    assert RECRUIT_RULE in text
    assert "实到 11 人，已超过半数，可以表决。" in text
    assert "赞成 10 票，没有超过应到会有表决权党员的一半，不能通过。" in text


# -- the question does not say what is voted on --------------------------------------------------------------------


async def test_unstated_subject_gets_both_rules_with_their_numbers(test_bot: ChatHarness) -> None:
    text = await ask(test_bot, "我们支部20个正式党员，开党员大会至少要到几个人？")
    assert "没有说明表决什么事项" in text
    ordinary, recruit = text.split("\n二、", 1)
    assert "一、一般事项的表决（支部工作条例第十一条）" in ordinary
    assert "恰好 10 人到会算不算够" in ordinary and "上级党组织的口径为准" in ordinary
    assert recruit.startswith("接收预备党员、预备党员转正的表决")
    assert "即至少 11 人到会才能表决" in recruit
    assert "来源：《中国共产党支部工作条例（试行）》（2018）；《中国共产党发展党员工作细则》（2014）" in text


async def test_unstated_subject_at_an_odd_count_needs_the_same_number_under_both(test_bot: ChatHarness) -> None:
    text = await ask(test_bot, "应到21人，实到11人，能表决吗")
    ordinary, recruit = text.split("\n二、", 1)
    assert "即至少 11 人到会" in ordinary and "各地理解不一" not in ordinary
    assert "即至少 11 人到会" in recruit
    assert text.count("实到 11 人，已超过半数，可以表决。") == 2


# -- 党费: 税前 and 税后 ------------------------------------------------------------------------------------------


async def test_dues_use_the_after_tax_amount_when_both_are_given(test_bot: ChatHarness) -> None:
    text = await ask(test_bot, "税前8000，税后6500交多少党费")
    assert text.startswith("党费按税后收入计算，所以用您给的税后 6500 元，不用税前的 8000 元。")
    assert "月收入 6500 元属于 5000 元以上至 10000 元（含）这一档，按 1.5% 交纳，每月 97.50 元。" in text
    assert "每月 120.00 元" not in text
    assert "来源：《关于中国共产党党费收缴、使用和管理的规定》（中组部，2008） 第二条" in text


async def test_dues_with_only_a_pretax_amount_ask_for_the_after_tax_one(test_bot: ChatHarness) -> None:
    text = await ask(test_bot, "税前8000交多少党费")
    assert "月收入 8000 元" in text
    assert "您给的是税前数额，党费应按税后收入计算，请换成税后数额再核对。" in text
