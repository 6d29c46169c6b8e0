"""The head-count calculator: how many must attend or vote yes at a 党员大会, an election or a 支委会.

A 党员大会 vote has two rules, and the answer names the one it applies. An ordinary vote (支部工作条例 第十一条)
needs "半数以上" of the voters present; whether exactly half is enough is read both ways, so at an even head count
the answer gives both readings and leaves the choice to the higher Party organisation. Accepting a 预备党员 or
confirming one (发展党员工作细则 第二十条、第二十一条、第三十三条) needs more than half present, and written opinions
handed in before the meeting by voters who cannot attend count as votes. Both pass with yes votes above half of the
*expected* voters. A question that does not say what is voted on gets both rules.
All user-facing wording lives in this module's text constants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from knowledge.calculation import CLAUSE_BREAK, NUMBER, Calculation, has_any, plain, to_decimal

# --- Reply texts (Simplified Chinese) ------------------------------------------------------------------------------

BRANCH_TITLE = "《中国共产党支部工作条例（试行）》（2018）"
ELECTION_TITLE = "《中国共产党基层组织选举工作条例》（2020）"
RECRUIT_TITLE = "《中国共产党发展党员工作细则》（2014）"
SECTION_MEETING = "第十一条 · 党员大会到会与表决人数"
SECTION_RECRUIT = "第二十条、第二十一条、第三十三条 · 接收预备党员、预备党员转正的到会与表决人数"
BOTH_TITLE = f"{BRANCH_TITLE}；{RECRUIT_TITLE}"
SECTION_BOTH = "党员大会到会与表决人数（条例第十一条；细则第二十条、第二十一条、第三十三条）"
SECTION_ELECTION = "选举的到会与当选人数"
SECTION_COMMITTEE = "第十二条 · 支委会到会人数"

VOTERS_EXPLICIT = "应到会有{right}的党员 {n} 名。"
VOTERS_FORMAL = "有{right}的正式党员 {n} 名。"
VOTERS_FORMAL_AND_PROBATIONARY = "有{right}的是 {n} 名正式党员，{p} 名预备党员没有{right}，不计入。"
VOTERS_MINUS_PROBATIONARY = "{total} 名党员中有 {p} 名预备党员（没有{right}），有{right}的正式党员为 {n} 名。"
VOTERS_ASSUMED = "按 {n} 名都是正式党员计算；其中如有预备党员或留党察看期内的党员，要先减去，他们没有{right}。"

# 党员大会: two rules. An ordinary vote (条例 第十一条) needs "半数以上" present, which readers disagree on when
# exactly half attend; a vote to accept a 预备党员 or confirm one (细则 第二十条、第二十一条、第三十三条) needs
# attendance above half. Both pass with yes votes above half of the *expected* voters.
RULE_ORDINARY = "一般事项的表决（支部工作条例第十一条）"
RULE_RECRUIT = "接收预备党员、预备党员转正的表决（发展党员工作细则第二十条、第二十一条、第三十三条）"
RULE_APPLIES = "适用规则：{rule}。"
RULE_BOTH = "问题里没有说明表决什么事项，两种规则分列如下，请按实际事项选用。"
RULE_ITEM_ORDINARY = "\n一、" + RULE_ORDINARY + "："
RULE_ITEM_RECRUIT = "\n二、" + RULE_RECRUIT + "："

ORDINARY_QUORUM_ODD = "条文要求“半数以上”有表决权的党员到会才能表决，即至少 {quorum} 人到会；"
ORDINARY_QUORUM_EVEN = (
    "条文要求“半数以上”有表决权的党员到会才能表决。{n} 人的一半是 {half} 人，恰好 {half} 人到会算不算够，"
    "各地理解不一（按“以上”含本数理解，{half} 人即可；按须超过半数理解，至少 {more} 人），请以上级党组织的口径为准；"
)
ORDINARY_PASS = "赞成票须超过应到会有表决权党员的半数，即至少 {majority} 票才算通过——按应到人数算，不按实到人数算。"
RECRUIT_RULE = (
    "有表决权的到会人数须超过应到会有表决权人数的半数，即至少 {quorum} 人到会才能表决；采取无记名投票，"
    "赞成票须超过应到会有表决权的正式党员的半数，即至少 {majority} 票才算通过。"
)
RECRUIT_WRITTEN = "因故不能到会的有表决权正式党员，会前正式向党支部提出书面意见的，应当统计在票数内。"
RECRUIT_NOTE = "同时讨论两人以上的，要逐个讨论、逐个表决。"

MEETING_PRESENT = "实到 {m} 人，{verdict}。"
MEETING_PRESENT_OK = "已超过半数，可以表决"
MEETING_PRESENT_SHORT = "没有超过半数，不能表决"
MEETING_PRESENT_UNDER_HALF = "不到半数，不能表决"
MEETING_PRESENT_HALF = "恰好一半，能否表决请按上级党组织的口径确定"
MEETING_YES = "赞成 {v} 票，{verdict}。"
MEETING_YES_OK = "超过应到会有表决权党员的一半，通过"
MEETING_YES_SHORT = "没有超过应到会有表决权党员的一半，不能通过"
MEETING_SMALL = "提示：正式党员不足 3 人的，一般不单独成立党支部，而是成立联合党支部。"

ORDINARY_GENERAL = (
    "条文要求“半数以上”有表决权的党员到会才能表决；恰好一半到会算不算够、是否须超过半数，各地理解不一，"
    "请以上级党组织的口径为准；赞成票须超过应到会有表决权党员的半数才算通过——分母是应到会人数，不是实到人数。"
    "例如应到会 21 人：至少 11 人到会，至少 11 票赞成。"
)
RECRUIT_GENERAL = (
    "有表决权的到会人数须超过应到会有表决权人数的半数才能表决；采取无记名投票，"
    "赞成票须超过应到会有表决权的正式党员的半数才算通过。例如应到会 20 人：至少 11 人到会，至少 11 票赞成。"
)
MEETING_VOTERS_NOTE = "只有正式党员有表决权，预备党员和留党察看期内的党员不计入。"

ELECTION_RULE = (
    "有选举权的党员到会须超过应到会人数的 4/5（{n} × 4/5 = {four_fifths}，须超过这个数），即至少 {quorum} 人，"
    "选举才有效；候选人的赞成票须超过应到会有选举权人数的一半，即至少 {majority} 票，才能当选。"
)
ELECTION_PRESENT = "实到 {m} 人，{verdict}。"
ELECTION_PRESENT_OK = "已超过应到会人数的 4/5，选举有效"
ELECTION_PRESENT_SHORT = "没有超过应到会人数的 4/5，选举无效"
ELECTION_YES = "赞成 {v} 票，{verdict}。"
ELECTION_YES_OK = "可以当选"
ELECTION_YES_SHORT = "不能当选"
ELECTION_GENERAL = (
    "选举：有选举权的党员到会须超过应到会人数的 4/5，选举才有效；候选人的赞成票须超过应到会有选举权人数的一半，"
    "才能当选。只有正式党员有选举权，预备党员不计入。例如应到会 20 人：4/5 是 16 人，须超过，所以至少 17 人到会；"
    "至少 11 票才能当选。选举的“超过 4/5”和普通表决的“超过半数”不要混用。"
)

COMMITTEE_RULE = "支委会 {k} 名委员，须有超过半数、即至少 {quorum} 名委员到会才能召开。"
COMMITTEE_PRESENT = "实到 {m} 名委员，{verdict}。"
COMMITTEE_PRESENT_OK = "可以召开"
COMMITTEE_PRESENT_SHORT = "不能召开"
COMMITTEE_GENERAL = "支委会须有超过半数的委员到会才能召开。例如 5 名委员至少 3 人到会，7 名委员至少 4 人到会。"

RIGHT_VOTE = "表决权"
RIGHT_ELECT = "选举权"
# --- Cue words and patterns, matched against the normalised question -----------------------------------------------

VOTE_CUES = tuple(
    "到会 到场 参会 参加 出席 到齐 实到 应到 赞成 同意票 票 当选 法定人数 "
    "能开 召开 有效 过半 半数 4/5 五分之四 来多少 来几 表决".split()
)
# "要到多少人" asks who must attend; in "能拿到多少经费", "评到几星" 到 only completes another verb
_ATTEND_HOW_MANY = re.compile(r"(?<![拿得收领用做达找分拨批排写学考评挣赚])到(?:多少|几)")
ELECTION_WORDS = tuple("选举 换届 当选 选票 候选 差额 选出 改选 补选".split())
COMMITTEE_WORDS = tuple("支委会 支部委员会 委员会会议".split())
ASSEMBLY_WORDS = tuple("党员大会 支部大会".split())
# no head-count rule here: the 党小组会 has none; a 党员代表大会 or a national congress ("中共一大") is not a branch's
# meeting ("一大早" is not); "一票否决" is a veto, not a count of votes
NOT_COUNTED_MEETINGS = tuple("党小组 代表大会 中共一大 党的一大 一票否决".split())
RECRUIT_WORDS = tuple("接收 发展 入党 转正 吸收".split())
# Matters other than accepting or confirming a 预备党员: the question has said that the ordinary rule applies.
ORDINARY_WORDS = tuple(
    "一般事项 普通事项 其他事项 重要事项 一般议题 一般表决 普通表决 表彰 表扬 处分 处置 除名 劝退 工作报告".split()
)
INCLUDES_WORDS = tuple("其中 包括 包含 含 中有 里有 里面 当中".split())

_VOTE_PASS = re.compile(r"(?:才|能|算|可以|就)通过|通过(?:吗|需|要|得)")
_HOW_MANY = re.compile(
    r"(?:多少|几)\s*(?:个|名|位)?\s*(?:人|票|委员|党员|同志)|(?:到会|到场|参会|出席|赞成|同意)\s*(?:多少|几)"
    r"|(?:不少于|至少|最少|最低)\s*(?:多少|几)|法定人数|人数(?:要求|规定|标准)|(?:多少|几)(?:个|名)?(?:才|就)"
)
_RIGHTS_QUESTION = re.compile(
    r"(?:表决|选举|被选举)权(?:吗|么|没有|不)|预备党员.{0,4}(?:能|可以)(?:不能)?(?:投票|表决|选举)"
)
_COUNT_SUFFIX = re.compile(
    r"\s*(个人|个|名|位|人|票)?\s*(?:是)?\s*"
    r"(正式|预备|支委|委员|到会|到场|出席|参会|赞成|同意|党员|同志)?"
)
_TIME_AFTER_UNIT = re.compile(r"月|小时|星期|季度|多月|半月|工作日")
_WINDOW_LABEL = re.compile(
    r"正式|预备|有选举权|有表决权|应到|实到|到会|到场|出席|到了|来了|赞成|同意|反对|弃权|支委|委员|党员|同志"
)


@dataclass(slots=True)
class _Counts:
    """Head counts found in a question, by what they count."""

    formal: int | None = None  # 正式党员
    probationary: int | None = None  # 预备党员
    members: int | None = None  # 党员, not said whether full or probationary
    voting: int | None = None  # 有表决权/选举权的, 应到
    committee: int | None = None  # 支委会委员
    present: int | None = None  # 实到, 到会
    yes: int | None = None  # 赞成票
    bare: int | None = None  # N 人, nothing said about who

    def put(self, role: str, value: int) -> None:
        if getattr(self, role) is None:
            setattr(self, role, value)

    def names_attendees(self) -> bool:
        """True when some number counts the people who vote or sit; 预备党员 alone are only the subject."""
        return any(getattr(self, name) is not None for name in self.__slots__ if name != "probationary")


_LABEL_ROLE = {
    "正式": "formal",
    "预备": "probationary",
    "支委": "committee",
    "委员": "committee",
    "有选举权": "voting",
    "有表决权": "voting",
    "应到": "voting",
    "实到": "present",
    "到会": "present",
    "到场": "present",
    "出席": "present",
    "参会": "present",
    "到了": "present",
    "来了": "present",
    "赞成": "yes",
    "同意": "yes",
    "反对": "other",
    "弃权": "other",
    "党员": "members",
    "同志": "members",
}
_PERSON_UNITS = frozenset({"个人", "名", "位", "人"})


def _window_role(window: str) -> str | None:
    """The role named last in the clause before a number; a specific label wins over plain 党员/同志."""
    roles = [_LABEL_ROLE[w] for w in _WINDOW_LABEL.findall(CLAUSE_BREAK.split(window)[-1])]
    specific = [r for r in roles if r != "members"]
    if specific:
        return specific[-1]
    return roles[-1] if roles else None


def _counts(q: str) -> _Counts:
    counts = _Counts()
    window_start = 0
    for match in NUMBER.finditer(q):
        suffix = _COUNT_SUFFIX.match(q, match.end())
        unit, label = suffix.group(1), suffix.group(2)
        window = q[window_start : match.start()]
        window_start = suffix.end()
        value = to_decimal(match.group())
        if value is None or value != value.to_integral_value() or value <= 0 or not (unit or label):
            continue
        if unit == "个" and not label and _TIME_AFTER_UNIT.match(q, suffix.end()):
            continue
        role = _count_role(unit, label, window)
        if role is not None:
            counts.put(role, int(value))
    return counts


def _count_role(unit: str | None, label: str | None, window: str) -> str | None:
    """What a number counts: the label right after it, else the clause before it, else the unit."""
    if label is not None and _LABEL_ROLE[label] != "members":
        return _LABEL_ROLE[label]
    role = _window_role(window)
    if role == "other":
        return None
    if unit == "票":
        return "yes"
    if role is not None:
        return role
    if label is not None:
        return "members"
    return "bare" if unit in _PERSON_UNITS else None


def _voters(q: str, counts: _Counts, right: str) -> tuple[int, str] | None:
    """How many members may vote, and a sentence saying how that number was reached."""
    if counts.voting:
        return counts.voting, VOTERS_EXPLICIT.format(right=right, n=counts.voting)
    if counts.formal:
        if counts.probationary:
            text = VOTERS_FORMAL_AND_PROBATIONARY.format(right=right, n=counts.formal, p=counts.probationary)
            return counts.formal, text
        return counts.formal, VOTERS_FORMAL.format(right=right, n=counts.formal)
    total = counts.members or counts.bare
    if not total:
        return None
    p = counts.probationary
    if p and p < total and has_any(q, INCLUDES_WORDS):
        n = total - p
        return n, VOTERS_MINUS_PROBATIONARY.format(total=total, p=p, right=right, n=n)
    return total, VOTERS_ASSUMED.format(n=total, right=right)


def votes(q: str) -> Calculation | None:
    if not (has_any(q, VOTE_CUES) or _VOTE_PASS.search(q) or _ATTEND_HOW_MANY.search(q)) or has_any(
        q, NOT_COUNTED_MEETINGS
    ):
        return None
    asks = _HOW_MANY.search(q) is not None
    counts = _counts(q)
    if not (asks or counts.names_attendees()) or (_RIGHTS_QUESTION.search(q) and not asks):
        return None
    if has_any(q, ELECTION_WORDS):
        return _election(q, counts)
    if (has_any(q, COMMITTEE_WORDS) and not has_any(q, ASSEMBLY_WORDS)) or counts.committee:
        return _committee(counts)
    return _meeting(q, counts)


def _majority(n: int) -> int:
    """Smallest whole number strictly greater than half of n."""
    return n // 2 + 1


def _meeting(q: str, counts: _Counts) -> Calculation:
    """The 党员大会 head counts under the rule the question names, or under both when it names none."""
    recruit, ordinary = has_any(q, RECRUIT_WORDS), has_any(q, ORDINARY_WORDS)
    voters = _voters(q, counts, RIGHT_VOTE)
    n, basis = voters if voters is not None else (None, "")
    after_rules = ""  # a closing note after the two numbered rules goes on a line of its own
    if recruit:
        parts = [basis, RULE_APPLIES.format(rule=RULE_RECRUIT), *_recruit_parts(n, counts)]
        title, section = RECRUIT_TITLE, SECTION_RECRUIT
    elif ordinary:
        parts = [basis, RULE_APPLIES.format(rule=RULE_ORDINARY), *_ordinary_parts(n, counts)]
        title, section = BRANCH_TITLE, SECTION_MEETING
    else:
        parts = [basis, RULE_BOTH, RULE_ITEM_ORDINARY, *_ordinary_parts(n, counts)]
        parts += [RULE_ITEM_RECRUIT, *_recruit_parts(n, counts)]
        title, section = BOTH_TITLE, SECTION_BOTH
        after_rules = "\n"
    if n is None:
        parts.append(after_rules + MEETING_VOTERS_NOTE)
    elif n < 3:
        parts.append(after_rules + MEETING_SMALL)
    return Calculation("votes", "".join(parts), title, section)


def _ordinary_parts(n: int | None, counts: _Counts) -> list[str]:
    """条例 第十一条: "半数以上" present (exactly half is read both ways), yes votes above half of the expected."""
    if n is None:
        return [ORDINARY_GENERAL]
    majority = _majority(n)
    if n % 2:
        parts = [ORDINARY_QUORUM_ODD.format(quorum=majority)]
    else:
        parts = [ORDINARY_QUORUM_EVEN.format(n=n, half=n // 2, more=majority)]
    parts.append(ORDINARY_PASS.format(majority=majority))
    if counts.present is not None and counts.present <= n:
        if 2 * counts.present > n:
            verdict = MEETING_PRESENT_OK
        elif 2 * counts.present < n:
            verdict = MEETING_PRESENT_UNDER_HALF
        else:
            verdict = MEETING_PRESENT_HALF
        parts.append(MEETING_PRESENT.format(m=counts.present, verdict=verdict))
    parts.extend(_yes_parts(n, counts))
    return parts


def _recruit_parts(n: int | None, counts: _Counts) -> list[str]:
    """细则: attendance above half, yes votes above half of the expected; written opinions count as votes."""
    if n is None:
        return [RECRUIT_GENERAL, RECRUIT_WRITTEN, RECRUIT_NOTE]
    majority = _majority(n)
    parts = [RECRUIT_RULE.format(quorum=majority, majority=majority), RECRUIT_WRITTEN]
    if counts.present is not None and counts.present <= n:
        verdict = MEETING_PRESENT_OK if counts.present >= majority else MEETING_PRESENT_SHORT
        parts.append(MEETING_PRESENT.format(m=counts.present, verdict=verdict))
    parts.extend(_yes_parts(n, counts))
    parts.append(RECRUIT_NOTE)
    return parts


def _yes_parts(n: int, counts: _Counts) -> list[str]:
    if counts.yes is None or counts.yes > n:
        return []
    verdict = MEETING_YES_OK if counts.yes >= _majority(n) else MEETING_YES_SHORT
    return [MEETING_YES.format(v=counts.yes, verdict=verdict)]


def _election(q: str, counts: _Counts) -> Calculation:
    voters = _voters(q, counts, RIGHT_ELECT)
    if voters is None:
        return Calculation("votes", ELECTION_GENERAL, ELECTION_TITLE, SECTION_ELECTION)
    n, basis = voters
    quorum = 4 * n // 5 + 1
    four_fifths = plain(Decimal(4 * n) / 5)
    parts = [basis, ELECTION_RULE.format(n=n, four_fifths=four_fifths, quorum=quorum, majority=_majority(n))]
    if counts.present is not None and counts.present <= n:
        verdict = ELECTION_PRESENT_OK if counts.present >= quorum else ELECTION_PRESENT_SHORT
        parts.append(ELECTION_PRESENT.format(m=counts.present, verdict=verdict))
    if counts.yes is not None and counts.yes <= n:
        verdict = ELECTION_YES_OK if counts.yes >= _majority(n) else ELECTION_YES_SHORT
        parts.append(ELECTION_YES.format(v=counts.yes, verdict=verdict))
    return Calculation("votes", "".join(parts), ELECTION_TITLE, SECTION_ELECTION)


def _committee(counts: _Counts) -> Calculation:
    k = counts.committee or counts.bare or counts.members
    if not k:
        return Calculation("votes", COMMITTEE_GENERAL, BRANCH_TITLE, SECTION_COMMITTEE)
    quorum = _majority(k)
    parts = [COMMITTEE_RULE.format(k=k, quorum=quorum)]
    if counts.present is not None and counts.present <= k:
        verdict = COMMITTEE_PRESENT_OK if counts.present >= quorum else COMMITTEE_PRESENT_SHORT
        parts.append(COMMITTEE_PRESENT.format(m=counts.present, verdict=verdict))
    return Calculation("votes", "".join(parts), BRANCH_TITLE, SECTION_COMMITTEE)
