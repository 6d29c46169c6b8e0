"""How a regulation words what a member asks in everyday words: "最少挂几天" is "不少于7天", "攒" is "累计".

Uploaded documents speak the formal register of Party regulations; members ask in the everyday one. Only the
document ranking uses this table: a question word also matches the regulation's wording for it, in ranking and in
coverage. The curated entries carry their own phrasings and do not need it. Each row is general usage, not the
wording of any one document.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from knowledge.analyzer import Terms

# the asker's own head count: "12个正式党员", "5个支委", "30多人" (not "一个党员", who is one member)
HEAD_COUNT = re.compile(
    r"(?<![0-9一二三四五六七八九十两])(?:[0-9]{2,}|[2-9]|[两二三四五六七八九十][0-9一二三四五六七八九十]*)"
    r"\s*多?\s*(?:个|名|位)?\s*(?:正式)?(?:党员|支委|委员|人)"
)

# everyday word (one word as the analyzer cuts and folds a question) -> the regulation's words for it
FORMAL_WORDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("最少", "至少", "起码", "最低", "最短"), ("不少于", "不低于", "不得少于")),
    **dict.fromkeys(("最多", "顶多", "最长", "最高", "封顶"), ("不超过", "不得超过", "上限")),
    **dict.fromkeys(("之内", "以内"), ("日内", "天内")),
    **dict.fromkeys(("实行", "执行", "生效"), ("施行",)),
    **dict.fromkeys(("攒", "攒够", "累积"), ("累计",)),
    **dict.fromkeys(("贴", "张贴", "挂"), ("公示", "公开")),
    **dict.fromkeys(("钱", "块", "块钱"), ("元", "经费", "资金")),
    **dict.fromkeys(("花", "花钱", "开销", "花销"), ("支出", "开支")),
    **dict.fromkeys(("报批", "批"), ("审批", "批准")),
    **dict.fromkeys(("说了算", "拍板"), ("决定", "审批")),
    **dict.fromkeys(("涨", "涨钱"), ("提高", "增长")),
    **dict.fromkeys(("挪",), ("顺延", "调整")),
    **dict.fromkeys(("补学",), ("补课",)),
    **dict.fromkeys(("开会",), ("会议", "召开")),
    **dict.fromkeys(("没花", "剩下", "剩余"), ("结余", "结转")),
    **dict.fromkeys(("货比三家",), ("比价", "报价")),
    **dict.fromkeys(("倒数", "垫底"), ("末位", "排名")),
    **dict.fromkeys(("发点",), ("发放",)),
    **dict.fromkeys(("玩",), ("旅游", "参观")),
    **dict.fromkeys(("签字", "签名"), ("联名",)),
    **dict.fromkeys(("商量",), ("酝酿", "协商")),
    **dict.fromkeys(("登记",), ("报到",)),
    **dict.fromkeys(("志愿者",), ("志愿服务",)),
    **dict.fromkeys(("记",), ("计", "积")),
    **dict.fromkeys(("反映",), ("异议", "复核")),
    **dict.fromkeys(("送给", "送人"), ("转让", "赠送")),
    **dict.fromkeys(("叠加",), ("重复", "累加")),
    **dict.fromkeys(("包",), ("联系", "结对")),
    **dict.fromkeys(("调",), ("调整",)),
    **dict.fromkeys(("泄露",), ("隐私", "保密")),
    **dict.fromkeys(("小时", "钟头"), ("学时", "课时")),
    **dict.fromkeys(("一换",), ("任期", "届满")),
    **dict.fromkeys(("一届",), ("每届", "任期")),
    **dict.fromkeys(("老百姓", "百姓"), ("群众",)),
    **dict.fromkeys(("年纪", "岁数"), ("年龄",)),
    **dict.fromkeys(("腾讯会议", "钉钉", "视频会议"), ("视频",)),
    **dict.fromkeys(("本子",), ("记录本", "登记簿", "台账")),
    **dict.fromkeys(("打工", "务工"), ("外出",)),
    **dict.fromkeys(("拖", "推迟", "推后", "顺延", "晚点"), ("延期", "延长")),
    **dict.fromkeys(("调走", "调离"), ("空缺", "调出")),
    **dict.fromkeys(("空着",), ("空缺",)),
    **dict.fromkeys(("不来", "缺勤"), ("不参加", "缺席")),
    **dict.fromkeys(("没交", "不交", "欠交"), ("不交纳", "未交纳")),
    **dict.fromkeys(("公开", "公示"), ("公布",)),
    **dict.fromkeys(("公布",), ("公开", "公示")),
    **dict.fromkeys(("开完", "散会"), ("会议结束", "会后")),
    **dict.fromkeys(("通过",), ("审议通过",)),
    **dict.fromkeys(("建议",), ("提议",)),
    **dict.fromkeys(("搬", "搬家", "搬来"), ("入住", "迁入")),
    **dict.fromkeys(("穷", "没钱"), ("困难", "最低生活保障")),
    **dict.fromkeys(("大病", "重病"), ("重大疾病",)),
    **dict.fromkeys(("医药费",), ("医疗费用",)),
    **dict.fromkeys(("掏",), ("自付",)),
    **dict.fromkeys(("管用", "作废", "失效"), ("废止", "有效")),
    **dict.fromkeys(("半年",), ("6个月", "六个月")),
    **dict.fromkeys(("老是", "总是", "经常"), ("连续", "多次")),
    # a member's "支委" (read as the committee) is often the committee's members: "支委一年培训多久"
    **dict.fromkeys(("支委会",), ("支部委员",)),
}


def formal_forms(word: str) -> tuple[str, ...]:
    return FORMAL_WORDS.get(word, ())


def with_formal_words(question: Terms, cut: Callable[[str], Terms]) -> Terms:
    """The question with the regulation's words for its everyday ones added: as words for the word ranker, and in
    the text the character-bigram ranker reads."""
    formal = [formal for word in question.words for formal in formal_forms(word)]
    if HEAD_COUNT.search(question.normalized):  # "我们支部46个党员了" asks what the rule says of the 人数
        formal.append("人数")
    phrases = " ".join(formal)
    if not phrases:
        return question
    added = cut(phrases)
    words = tuple(w for w in added.words if len(w) > 1 and w not in question.words)
    return Terms(question.words + words, question.bigrams + added.bigrams, f"{question.normalized} {phrases}")
