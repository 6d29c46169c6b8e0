"""Questions and answers through the real Application: private chats, groups, /ask, buttons, long answers."""

from __future__ import annotations

import logging

import pytest

from bot.bot_api_checks import BotApiError
from handlers import keyboards, texts
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, buttons, messages, plain

# -- private chats ------------------------------------------------------------------------------------------------


async def test_private_question_gets_answer_source_and_related_buttons(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("党员大会多久开一次"))
    text = plain(reply)
    assert "每季度" in text
    assert "来源：《" in text
    related = buttons(reply)
    assert 1 <= len(related) <= 3
    assert all(data.startswith("rel:") and len(data.encode()) <= 64 for _, data in related)
    assert "相关问题" in text


async def test_answer_quotes_the_passage_source(test_bot: ChatHarness) -> None:
    (reply,) = messages(await test_bot.send("支委会多久开一次"))
    assert plain(reply).startswith("支委会一般每月召开一次。")
    assert "来源：《测试制度汇编》 支委会：多久开一次" in plain(reply)
    assert [data for _, data in buttons(reply)] == ["rel:xiaozu-test", "rel:dahui-test"]


async def test_not_found_says_so_and_offers_nearest_topics(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("今天天气怎么样"))
    assert "没有找到可靠的答案" in plain(reply)
    assert "来源" not in plain(reply)
    assert len(buttons(reply)) <= 3


async def test_not_found_without_anything_near_has_no_buttons(test_bot: ChatHarness) -> None:
    (reply,) = messages(await test_bot.send("今天天气怎么样"))
    assert "没有找到可靠的答案" in plain(reply)
    assert buttons(reply) == []


async def test_a_question_about_another_organisation_is_told_so(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("工会小组会一个月开几次"))
    text = plain(reply)
    assert "工会" in text
    assert "党支部" in text
    assert "来源" not in text
    assert texts.NOT_FOUND not in text


async def test_a_request_to_write_a_text_is_declined_with_the_rules_it_touches(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("帮我写一份预备党员转正申请书"))
    text = plain(reply)
    assert "不能代写" in text
    assert texts.NOT_FOUND not in text
    assert "来源" not in text
    assert any(data == "rel:yubei-zhuanzheng" for _, data in buttons(reply))  # what the application must contain


# -- /ask ---------------------------------------------------------------------------------------------------------


async def test_ask_with_question(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("/ask 支委会多久开一次"))
    assert "每月" in plain(reply) and "来源：《" in plain(reply)


async def test_ask_alone_gives_usage(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("/ask"))
    assert plain(reply) == "请在 /ask 后面写上问题，例如：\n/ask 党员大会多久开一次"
    assert buttons(reply) == []


async def test_ask_in_group_with_bot_suffix_quotes_the_question(test_bot: ChatHarness) -> None:
    text = f"/ask@{test_bot.app.bot.username} 支委会多久开一次"
    update = test_bot.api.user_message(text, user=ALICE, chat=GROUP)
    (reply,) = messages(await test_bot.process(update))
    assert reply.params["chat_id"] == GROUP["id"]
    assert reply.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert "每月" in plain(reply)


async def test_ask_for_another_bot_is_ignored(test_bot: ChatHarness) -> None:
    assert await test_bot.send("/ask@other_helper_bot 支委会多久开一次", chat=GROUP) == []


# -- groups -------------------------------------------------------------------------------------------------------


async def test_group_mention_is_answered_without_the_mention(test_bot: ChatHarness) -> None:
    update = test_bot.api.user_message(f"@{test_bot.app.bot.username} 支委会多久开一次", user=ALICE, chat=GROUP)
    (reply,) = messages(await test_bot.process(update))
    assert plain(reply).startswith("支委会一般每月召开一次。")
    assert reply.params["reply_parameters"]["message_id"] == update["message"]["message_id"]


async def test_group_mention_in_the_middle_of_chinese_text(test_bot: ChatHarness) -> None:
    (reply,) = messages(await test_bot.send(f"请问🙂@{test_bot.app.bot.username}，支委会多久开一次？", chat=GROUP))
    assert plain(reply).startswith("支委会一般每月召开一次。")


async def test_group_mention_alone_asks_for_the_question(test_bot: ChatHarness) -> None:
    (reply,) = messages(await test_bot.send(f"@{test_bot.app.bot.username}", chat=GROUP))
    assert f"@{test_bot.app.bot.username}" in plain(reply)
    assert "写上问题" in plain(reply)


async def test_group_reply_to_the_bot_is_answered(test_bot: ChatHarness) -> None:
    (first,) = messages(await test_bot.send("/ask 支委会多久开一次", chat=GROUP))
    calls = await test_bot.send("党员大会多久开一次", user=BOB, chat=GROUP, reply_to=first.result["message_id"])
    (reply,) = messages(calls)
    assert plain(reply).startswith("党员大会一般每季度召开一次。")


async def test_group_message_without_mention_is_ignored(test_bot: ChatHarness) -> None:
    assert await test_bot.send("支委会多久开一次", chat=GROUP) == []


async def test_group_reply_to_someone_else_is_ignored(test_bot: ChatHarness) -> None:
    question = test_bot.api.user_message("支委会多久开一次？", user=ALICE, chat=GROUP)
    await test_bot.process(question)
    calls = await test_bot.send("党员大会多久开一次", user=BOB, chat=GROUP, reply_to=question["message"]["message_id"])
    assert calls == []


async def test_group_mention_of_another_bot_is_ignored(test_bot: ChatHarness) -> None:
    assert await test_bot.send("@other_helper_bot 支委会多久开一次", chat=GROUP) == []


# -- buttons ------------------------------------------------------------------------------------------------------


async def test_related_button_answers_that_passage(test_bot: ChatHarness) -> None:
    (reply,) = messages(await test_bot.send("支委会多久开一次"))
    label, data = buttons(reply)[0]
    calls = await test_bot.press(reply.result, data)
    assert [c.method for c in calls] == ["answerCallbackQuery", "sendMessage"]
    assert "text" not in calls[0].params
    answer = plain(calls[1])
    assert answer.startswith("党小组会一般每月召开一次。")
    assert f"来源：《测试制度汇编》 {label}" in answer


async def test_related_button_in_curated_knowledge(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("党员大会多久开一次"))
    calls = await bot.press(reply.result, buttons(reply)[0][1])
    assert calls[0].method == "answerCallbackQuery"
    assert "来源：《" in plain(messages(calls)[0])


@pytest.mark.parametrize(
    "data",
    [
        "rel:no-such-passage",  # stale: the passage was removed
        "rel:scoped-test",  # another branch's document
        "rel:",
        "rel:中文",
        "evil:1",
        "no separator",
        "x" * 64,
    ],
)
async def test_forged_or_stale_button_data_gets_a_short_note(test_bot: ChatHarness, data: str) -> None:
    (reply,) = messages(await test_bot.send("支委会多久开一次"))
    calls = await test_bot.press(reply.result, data)
    assert [(c.method, c.params.get("text")) for c in calls] == [("answerCallbackQuery", texts.STALE_BUTTON)]
    assert test_bot.failed_calls() == []


async def test_button_too_old_to_acknowledge_is_still_answered(
    test_bot: ChatHarness, caplog: pytest.LogCaptureFixture
) -> None:
    (reply,) = messages(await test_bot.send("支委会多久开一次"))
    expired = BotApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
    test_bot.api.fail_next("answerCallbackQuery", expired)  # pressed while the bot was down
    (answer,) = messages(await test_bot.press(reply.result, "rel:dahui-test"))
    assert plain(answer).startswith("党员大会一般每季度召开一次。")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_button_pressed_by_another_member_in_a_group(test_bot: ChatHarness) -> None:
    (reply,) = messages(await test_bot.send("/ask 支委会多久开一次", chat=GROUP))
    calls = await test_bot.press(reply.result, buttons(reply)[0][1], user=BOB)
    assert messages(calls)[0].params["chat_id"] == GROUP["id"]


def test_callback_data_codec_checks_64_bytes() -> None:
    assert keyboards.encode(keyboards.Action.RELATED, "dahui-frequency") == "rel:dahui-frequency"
    assert keyboards.decode("rel:dahui-frequency") == keyboards.ButtonData(keyboards.Action.RELATED, "dahui-frequency")
    with pytest.raises(keyboards.CallbackDataTooLong):
        keyboards.encode(keyboards.Action.RELATED, "党" * 21)  # 4 + 63 bytes
    assert keyboards.decode(None) is None
    assert keyboards.decode("rel:" + "a" * 61) is None


# -- long and hostile text ----------------------------------------------------------------------------------------


async def test_long_answer_is_split_with_buttons_on_the_last_part(test_bot: ChatHarness) -> None:
    parts = messages(await test_bot.send("组织生活制度全文"))
    assert len(parts) >= 2
    assert all(len(p.params["text"]) <= 4096 for p in parts)
    assert all(buttons(p) == [] for p in parts[:-1])
    assert "来源：《测试长文》" in plain(parts[-1])
    assert "\n\n".join(plain(p) for p in parts).startswith("第1段：")
    assert "第49段" in plain(parts[-1])
    assert test_bot.failed_calls() == []


async def test_knowledge_text_with_markup_is_escaped(test_bot: ChatHarness) -> None:
    (reply,) = messages(await test_bot.send("特殊符号测试"))
    assert reply.ok
    text = plain(reply)
    assert '<b>粗体</b>、&amp;、<script>alert(1)</script>、"引号"和 _*[`。' in text
    assert '来源：《<b>标题</b> & "引号"》 特殊符号 <i>章节</i>' in text


HOSTILE = [
    "<b>&\"'_*[`",
    "</i><b>未闭合",
    "*粗体* _斜体_ [链接](http://example.com) `代码`",
    "&lt;已转义&gt; &amp; &#60;",
    "支委会" * 1700,  # 5,100 characters
    "🎉🇨🇳👍🏽",
    "\u200b\u3000",
    "   \n\t  ",
    "党员大会<script>多久</script>开一次？",
]


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("where", ["private", "ask", "group"])
async def test_hostile_text_never_breaks_a_reply(test_bot: ChatHarness, text: str, where: str) -> None:
    username = test_bot.app.bot.username
    if where == "private":
        calls = await test_bot.send(text)
    elif where == "ask":
        calls = await test_bot.send(f"/ask {text}")
    else:
        calls = await test_bot.send(f"@{username} {text}", chat=GROUP)
    replies = messages(calls)
    assert replies, "every hostile question gets an answer or a hint"
    assert test_bot.failed_calls() == []  # the server parsed every reply's HTML
    for reply in replies:
        assert reply.params["parse_mode"] == "HTML"
        assert "<script>" not in reply.params["text"]
        assert texts.SORRY not in plain(reply)


async def test_whitespace_only_private_message_gets_a_hint(test_bot: ChatHarness) -> None:
    (reply,) = messages(await test_bot.send("  \u3000 "))
    assert plain(reply) == texts.EMPTY_QUESTION


async def test_overlong_question_gets_a_hint(test_bot: ChatHarness) -> None:
    (reply,) = messages(await test_bot.send("支委会" * 1700))
    assert "字以内" in plain(reply)


# -- several questions, overviews, small talk ---------------------------------------------------------------------


async def test_two_questions_in_one_message_are_answered_part_by_part(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("支委会多久开一次？还有，党员大会表决要到多少人才能进行"))
    text = plain(reply)
    first, second = text.index("1. 支委会多久开一次"), text.index("2. 党员大会表决要到多少人才能进行")
    assert first < second
    assert "每月" in text[first:second] and "第十二条" in text[first:second]
    assert "半数以上" in text[second:] and "第十一条" in text[second:]
    assert text.count("（来源：") == 2  # each part names its own source; no extra source line below


async def test_an_elliptical_second_question_borrows_the_first_ones_predicate(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("支委会多久开一次，党小组会呢"))
    text = plain(reply)
    assert "1. 支委会多久开一次" in text and "2. 党小组会多久开一次" in text
    assert "第十三条" in text


async def test_an_overview_question_gets_one_short_list(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("三会一课分别多久开一次"))
    lines = plain(reply).splitlines()
    items = [line for line in lines if line.startswith("· ")]
    assert [item.split("：")[0] for item in items] == ["· 支部党员大会", "· 支委会", "· 党小组会", "· 党课"]
    assert "每季度" in items[0] and "每月" in items[1] and "每月" in items[2]
    assert len(plain(reply)) < 600


@pytest.mark.parametrize("greeting", ["你好", "您好！", "在吗？", "谢谢", "hello"])
async def test_greetings_get_a_friendly_reply_not_an_apology(bot: ChatHarness, greeting: str) -> None:
    (reply,) = messages(await bot.send(greeting))
    text = plain(reply)
    assert "抱歉" not in text and "没有找到" not in text
    assert "支委会多久开一次" in text or "党员大会" in text  # an example of what to ask
    assert buttons(reply) == []


async def test_a_multi_part_answer_offers_no_button_for_a_part_it_already_answered(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("支委会多久开一次？党小组会呢"))
    text = plain(reply)
    assert "支委会一般每月开1次" in text and "党小组会一般每月开1次" in text  # both parts answered
    offered = [data for _, data in buttons(reply)]
    assert offered  # related topics are still offered ...
    assert "rel:zhiwei-frequency" not in offered and "rel:xiaozu-frequency" not in offered  # ... but not these
