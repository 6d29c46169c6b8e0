"""What kind of fact a question asks for (a number of days, a date, a head count, money …) and whether a text states
one. A passage that shares a question's words but states no fact of the asked kind answers a neighbouring
question: "开组织生活会要提前几天发通知" is not answered by an entry that names no number of days.
"""

from __future__ import annotations

import re

from knowledge.lexicon import OTHER_BODIES

# Kinds of fact, each with how a question asks for it and how a passage states it. A regulation or a speech answers
# "多长时间" with "不少于2小时" and "哪一天" with "每月第二个星期四": among an uploaded document's passages that share
# the question's words, the one stating a fact of the asked kind is the likelier answer (knowledge.document_index).
_NUMBER = r"[0-9一二三四五六七八九十百千万两半]+"
# a run of characters within one clause (normalize_for_match turns ，？； into , ? ;)
_IN_CLAUSE = r"[^，。?？,.;；]"
ANSWER_TYPES: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    name: (re.compile(asked), re.compile(stated))
    for name, (asked, stated) in {
        # "多久开一次" asks how often, not how long: it is the frequency kind, checked first
        "frequency": (
            rf"(?:多久|多长时间|隔多久|多少天|几个?月|几年){_IN_CLAUSE}{{0,4}}(?:一次|一回|一趟|一换)"
            r"|几次|多少次|几回|频率|一年.{0,4}几",
            rf"每(?:个)?(?:月|季度|年|半年|周|星期|学期|届)|{_NUMBER}\s*次|一次",
        ),
        "duration": (
            r"多长时间|多久|多长|(?:几|多少)个?(?:天|小时|钟头|学时|课时|月|年|周|星期|分钟|工作日)",
            rf"{_NUMBER}\s*(?:个)?(?:小时|分钟|天|日|个?工作日|周|个?月|年|学时|课时)|任期|届",
        ),
        "date": (
            r"哪天|哪一天|几号|几月|什么时候|何时|哪个月|什么时间|截止|之前|以前",
            rf"{_NUMBER}\s*(?:月|日|号)|星期|周[一二三四五六日]|月底|年底|季度|上旬|中旬|下旬|前后"
            rf"|[满前]\s*{_NUMBER}\s*个?(?:月|天|日|周|工作日)|{_NUMBER}\s*个?(?:月|天|日|工作日)\s*[前内后]"
            # an occasion is a time too: "放在什么时候开" is answered by "安排在交班会之后"
            r"|之后|以后|期间|结束后|会后",
        ),
        "people": (
            r"多少人|几个?人|多少名|几名|几位|多少位|多少个?(?:党员|委员|代表)|几个(?:党员|委员|代表)",
            rf"{_NUMBER}\s*(?:人|名|位)|分之|[0-9.]+\s*%|半数|过半",
        ),
        "count": (
            r"(?:多少|几)(?:个|件|户|字|项|份|张|页|本|届|星|次)",
            rf"{_NUMBER}\s*(?:个|次|件|字|户|项|期|支|家|份|张|本|届|星|人|名|位)",
        ),
        "score": (r"(?:多少|几)分|扣多少|加多少|算几|什么等次|什么档", rf"{_NUMBER}\s*分(?!之|钟)|等次|等级|档"),
        "share": (
            r"多少比例|比例|百分之|几成|多大比重|占多少|占多大",
            r"[0-9.]+\s*%|百分之|分之|[一二三四五六七八九]成",
        ),
        # how much money, or whether there is any; "能不能用经费发补贴" asks whether it may be spent, which the rule
        # that forbids it answers without an amount
        "money": (
            r"多少钱|多少元|多少万|(?:多少|几)块|奖多少|补多少|给多少|发多少"
            rf"|(?:费用|经费|报酬|补贴|补助|奖励|奖金|标准){_IN_CLAUSE}{{0,4}}(?:多少|几)"
            rf"|(?:多少|几){_IN_CLAUSE}{{0,3}}(?:费用|经费|补贴|补助|奖励)"
            rf"|(?:有没有|有无|给不给|发不发|能不能拿|能拿){_IN_CLAUSE}{{0,4}}(?:报酬|补贴|补助|奖励|奖金|钱)"
            r"|(?:报酬|补贴|补助|奖励|奖金|钱)吗",
            rf"{_NUMBER}\s*(?:元|万元|万)",
        ),
        # a telephone number (not any 联系方式: 通过微信报告 answers how), a person's name, a time of day: a rule that
        # states none of it does not answer
        "phone": (
            rf"(?:电话|手机|号码|热线){_IN_CLAUSE}{{0,3}}(?:多少|几)|手机号|联系电话",
            r"[0-9]{7,}|[0-9]{3,4}-[0-9]{7,8}",
        ),
        # a person's name, not a programme's ("品牌叫什么名字" is answered by the brand's name)
        "name": (
            rf"(?:书记|组长|部长|主任|联系人|负责人|老师|委员|支书){_IN_CLAUSE}{{0,4}}(?:叫什么|叫啥|姓什么)|哪位(?:同志|老师|领导)",
            r"同志",
        ),
        "clock": (r"几点", rf"{_NUMBER}\s*(?:点|时)(?!半数)|[0-9]{{1,2}}:[0-9]{{2}}|上午|下午|晚上|早上"),
        "who": (r"谁|哪个单位|哪个部门|由哪|哪一级|找哪", r"负责|牵头|主持|由|组织部|党委|党工委|书记|委员|支部"),
    }.items()
}


def answer_types(normalized_question: str) -> frozenset[str]:
    kinds = {name for name, (asked, _) in ANSWER_TYPES.items() if asked.search(normalized_question)}
    if "frequency" in kinds:  # "多久开一次" is not a question of how long
        kinds.discard("duration")
    if "people" in kinds:  # "几个人" asks for a head count, not any count
        kinds.discard("count")
    return frozenset(kinds)


def states_answer_type(normalized_text: str, kinds: frozenset[str]) -> bool:
    """Whether the text states a fact of one of the asked kinds."""
    return any(ANSWER_TYPES[kind][1].search(normalized_text) for kind in kinds)


# What a curated entry must state to answer a question that asks for something specific. An entry that shares the
# question's topic words but states no such thing answers a neighbouring question, not this one.
# A number of a named unit ("提前几天", "保存几年", "拍几张"); "好几年"/"十几天"/"那几年" ask nothing, and
# "挪几天行不行" asks whether, not how many. The entry must state a number of that unit.
_ASKED_QUANTITY = re.compile(
    r"(?<![好十这那头近])(?:几|多少)个?(天|年|张|字|届|页|份|岁|周|小时|分钟)(?!\s*(?:行不行|行吗|吗|可以|可不可以|也行))"
)
# (asked, stated) pairs:
_MUST_STATE: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(asked), re.compile(stated))
    for asked, stated in (
        # how long one sitting lasts ("一次要谈多长时间"): minutes, hours or a day
        (
            rf"(?:一次|每次|一场){_IN_CLAUSE}{{0,6}}(?:多长时间|多久|多长)",
            rf"{_NUMBER}\s*个?(?:分钟|小时|学时|课时|天)|半天|半小时",
        ),
        # a limit ("最长多久", "至少多长时间"): any span
        (
            rf"(?:最长|最短|至少|最少){_IN_CLAUSE}{{0,3}}(?:多长时间|多久)",
            rf"{_NUMBER}\s*个?(?:分钟|小时|学时|课时|天|日|周|月|年)|半天|半小时|半年",
        ),
        # an age ("任职有没有年龄上限"): an age stated
        (r"年龄|岁数", r"岁|年龄"),
        # a year ("哪年出台的", "历史上"): a year written out
        (r"哪年|哪一年|什么年代|哪个年代|历史上|什么时候(?:出台|提出|成立|制定|颁布|发布)", r"[0-9]{4}\s*年"),
        # money ("有没有奖金"): an amount or a word about money
        (
            r"奖金|补贴|工资|报酬|报销|津贴|补助|多少钱|费用|慰问金|奖励|讲课费|课时费|劳务费",
            r"[0-9]+\s*元|奖金|补贴|工资|报酬|报销|津贴|补助|费用|经费|慰问|奖励|收入|钱",
        ),
    )
)
# every name of another organisation, the longest first so that "工会小组" is named rather than "工会"
_OTHER_BODIES = re.compile(
    "|".join(
        sorted(
            {name for body, names in OTHER_BODIES.items() for name in (body, *names)},
            key=lambda name: (-len(name), name),
        )
    )
)
# Tools a question names ("能用支付宝交吗", "能不能微信视频谈") and practical details the rules leave to each branch —
# dress ("要穿正装吗"), recording ("能录音吗"), the time of day or week ("放在周末开行吗"), seals, drafts, fonts,
# downloads, signatures ("要双方签字吗"), ballot marks, smoking and drinking, a member's marriage, exams, people
# from another unit, lateness: a rule that never names the thing does not settle it.
_NAMED_DETAILS = re.compile(
    r"微信|支付宝|钉钉|腾讯会议|小程序|视频|短信|问卷星|ppt|朋友圈|抖音|qq"
    r"|穿|戴|着装|正装|服装|工装|录音|录像|直播|周末|周六|周日|星期六|星期天|礼拜天|晚上|夜里|下班|午休|中午"
    r"|公章|印章|红包|稿子|发言稿|字体|字号|下载|签字|签名|打勾|打钩|画圈"
    r"|抽烟|吸烟|喝酒|饮酒|结婚|离婚|考试|外单位|迟到|早退"
)


# A request to write something ("帮我写一份转正申请书", "给我拟个主持词", "代写心得") asks for a text, not for a rule.
_WRITING_REQUEST = re.compile(
    rf"(?:帮|替|给)(?:我|忙|咱|我们){_IN_CLAUSE}{{0,4}}?(?:写|起草|拟|排版|排个版|润色|改一改|改一下|改改)"
    r"|代写|^(?:请)?(?:起草|拟写|撰写)"
)


def asks_for_writing(normalized_question: str) -> bool:
    """Whether the message asks the bot to write or polish a text (a speech, an application, a notice)."""
    return _WRITING_REQUEST.search(normalized_question) is not None


# A question for an opinion or a preference ("你觉得好不好", "上午好还是下午好"): no rule is an opinion.
_OPINION = re.compile(rf"你觉得|您觉得|好还是|还是{_IN_CLAUSE}{{1,8}}好[吗呢啊？?]*$")


def other_body(normalized_question: str) -> str | None:
    """The non-Party organisation a question is about, if it names one."""
    match = _OTHER_BODIES.search(normalized_question)
    return match.group(0) if match else None


def states_what_is_asked(normalized_question: str, normalized_text: str) -> bool:
    """False when the question asks for an opinion, names another organisation, a tool or a practical detail the
    text does not name, or asks for a number of some unit, the length of a sitting, a limit, an age, a year or money
    the text does not state."""
    if _OPINION.search(normalized_question):
        return False
    for named in (_OTHER_BODIES.search(normalized_question), _NAMED_DETAILS.search(normalized_question)):
        if named is not None and named.group(0) not in normalized_text:
            return False
    quantity = _ASKED_QUANTITY.search(normalized_question)
    if quantity and not re.search(rf"{_NUMBER}\s*个?{quantity.group(1)}", normalized_text):
        return False
    return all(not asked.search(normalized_question) or stated.search(normalized_text) for asked, stated in _MUST_STATE)
