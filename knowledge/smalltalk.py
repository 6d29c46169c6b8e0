"""Greetings, thanks and "are you there": a short friendly reply saying what the bot can do, never an apology."""

from __future__ import annotations

import re

from knowledge.normalize import normalize_for_match

GREETING_REPLY = (
    "您好！我是党支部助手，可以回答三会一课、主题党日、组织生活会、党费、发展党员等方面的问题，"
    "也能帮支部安排活动、签到和提醒。直接提问就行，例如：支委会多久开一次？"
)
THANKS_REPLY = "不客气！还有问题随时问我，例如：党员大会到会多少人才有效？"
FAREWELL_REPLY = "再见！需要时随时找我。"

_FILLER = re.compile(r"[\s,，.。!！?？~～、…:：;；呀啊哈哦噢嗯呢吧啦了哟]+")
_GREETINGS = frozenset(
    "你好 您好 你们好 大家好 哈喽 嗨 hello hi hey 在吗 在不在 在么 有人吗 早 早上好 上午好 中午好 下午好 晚上好 "
    "你是谁 你是干什么的 你能做什么 你会什么 你能干什么 怎么用 你有什么功能 书记好 老师好 同志你好 机器人".split()
)
_THANKS = frozenset(
    "谢谢 谢谢你 谢谢您 多谢 感谢 非常感谢 辛苦了 好的谢谢 明白了谢谢 收到谢谢 thanks thank you 谢啦".split()
)
_FAREWELLS = frozenset("再见 拜拜 bye 回头见 下次见".split())


def small_talk_reply(text: str) -> str | None:
    """The reply when the whole message is a greeting, thanks or farewell; None for anything else."""
    core = _FILLER.sub("", normalize_for_match(text))
    if core in _GREETINGS:
        return GREETING_REPLY
    if core in _THANKS:
        return THANKS_REPLY
    if core in _FAREWELLS:
        return FAREWELL_REPLY
    return None
