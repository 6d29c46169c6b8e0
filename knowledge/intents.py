"""Question-intent cues: words in a question that say which kind of passage it wants.

Curated entries carry intent tags (``意图:`` in knowledge/docs); a question whose cues match an entry's tags ranks
that entry higher. Uploaded passages carry no tags; their text is checked for the same cues instead.
"""

from __future__ import annotations

# tag -> cue words (matched as substrings of the normalised question)
INTENT_CUES: dict[str, tuple[str, ...]] = {
    tag: tuple(cues.split())
    for tag, cues in {
        "频率": "多久 几次 多少次 频率 频次 多长时间 隔多久 每月 每季度 每年 一年 一个月 一季度 必须开 要开吗 开几",
        "主体": "谁 由谁 哪个 主持 召集 谁来 谁讲",
        "人数": "多少人 几人 几个人 过半 半数 法定人数 到会 人数 有效 够不够 不够",
        "流程": "怎么 如何 流程 程序 步骤 怎样 咋",
        "内容": "什么内容 干什么 搞什么 做什么 学什么 内容 包括 哪些",
        "区别": "区别 不同 差别 一样吗 是不是一回事",
        "标准": "多少钱 交多少 比例 标准 基数",
        "时间": "哪天 什么时候 何时 几号 时间",
    }.items()
}
INTENT_TAGS = frozenset(INTENT_CUES)


def question_intents(normalized_question: str) -> frozenset[str]:
    return frozenset(tag for tag, cues in INTENT_CUES.items() if any(c in normalized_question for c in cues))
