"""The 党费 calculator: the monthly dues for an income or a kind of member (中组部 2008 年党费规定).

When a question gives both a 税前 and a 税后 amount the 税后 one is used; with only 税前 the answer says the base
is after tax. All user-facing wording lives in this module's text constants.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

from knowledge.calculation import CLAUSE_BREAK, CN_DIGITS, NUMBER, Calculation, has_any, plain, to_decimal

# --- Reply texts (Simplified Chinese) ------------------------------------------------------------------------------

DUES_TITLE = "《关于中国共产党党费收缴、使用和管理的规定》（中组部，2008）"

SECTION_IN_SERVICE = "第二条 · 在职党员交纳比例"
SECTION_RETIREE = "离退休党员交纳比例"
SECTION_FIXED = "学生、下岗失业等党员交纳标准"
SECTION_FARMER = "农民党员交纳标准"
SECTION_ANNUAL = "年薪制党员的计算基数"
SECTION_BASE = "第一条 · 计算基数"

BRACKET_IN_SERVICE = (
    (Decimal(3000), "3000 元（含）以下", Decimal("0.5")),
    (Decimal(5000), "3000 元以上至 5000 元（含）", Decimal(1)),
    (Decimal(10000), "5000 元以上至 10000 元（含）", Decimal("1.5")),
    (None, "10000 元以上", Decimal(2)),
)
BRACKET_RETIREE = (
    (Decimal(5000), "5000 元（含）以下", Decimal("0.5")),
    (None, "5000 元以上", Decimal(1)),
)

DUES_IN_SERVICE = "月收入 {amount} 元属于 {bracket}这一档，按 {rate}% 交纳，每月 {due} 元。"
DUES_RETIREE = "离退休费（养老金）{amount} 元属于 {bracket}这一档，按 {rate}% 交纳，每月 {due} 元。"
DUES_FLAT_NOTE = "整个数额适用同一个比例，不分段累进。"
DUES_BASE_NOTE = "计算基数是工资中相对固定的、经常性的税后收入；具体数额请与支部核对确认。"
DUES_RETIREE_NOTE = "基数是实际领取的离退休费或养老金总额；具体数额请与支部核对确认。"
DUES_PRETAX_NOTE = "您给的是税前数额，党费应按税后收入计算，请换成税后数额再核对。"
DUES_AFTER_TAX_USED = "党费按税后收入计算，所以用您给的税后 {after} 元，不用税前的 {before} 元。"
DUES_AFTER_TAX_USED_RETIREE = "离退休党员以实际领取的数额为基数，所以用您给的税后 {after} 元，不用税前的 {before} 元。"
DUES_ANNUAL_NOTE = "实行年薪制的，以当月实际领取的薪酬为基数。"
DUES_ANNUAL_GENERAL = (
    "实行年薪制的党员，以当月实际领取的薪酬为基数（不是把年薪直接套用），再按在职党员比例交纳："
    "3000 元（含）以下 0.5%，3000 元以上至 5000 元（含）1%，5000 元以上至 10000 元（含）1.5%，"
    "10000 元以上 2%，整额适用一个比例。告诉我当月实发数额，可以帮您算出具体金额。"
)
DUES_RETIREE_GENERAL = (
    "离退休党员以实际领取的离退休费或养老金总额为基数：5000 元（含）以下按 0.5% 交纳，5000 元以上按 1% 交纳，"
    "整额适用一个比例。告诉我每月领取的数额，可以帮您算出具体金额。"
)
DUES_FIXED = (
    "学生党员，以及下岗失业、依靠抚恤或救济生活、领取最低生活保障金的党员，每月交纳党费 0.2 元。"
    "确有困难的，经支部研究、报上一级党委批准，可以少交或免交。"
)
DUES_FARMER = "农民党员每月交纳党费 0.2 元至 1 元，具体标准由各省（区、市）确定，请按本省规定执行。"
DUES_ABSURD = (
    "{amount} 元不像是每月的收入，没法据此计算党费。请告诉我每月相对固定的税后收入（单位：元），"
    "例如“工资 6000 交多少党费”。"
)

# --- Cue words, matched against the normalised question ------------------------------------------------------------

INCOME_WORDS = tuple("工资 月薪 薪水 薪资 薪酬 收入 税后 税前 退休金 退休费 离休费 养老金 年薪 到手 月入 实发".split())
OTHER_FEES = tuple("个税 所得税 交多少税 社保 公积金 医保 会费".split())  # 团费, 工会: see asked_kinds.other_body
DUES_OFF_TOPIC = tuple(
    "补交 预交 代交 免交 可以少交 能少交 能不能少交 减免 多交 一次交 一次性交 按季 不交 没交 欠 脱党 "
    "什么时候 何时 哪天 几号 截止 上缴 使用 管理 收据 票据 交给谁 "
    "老的党费 老标准 旧标准 以前的 原来的 还能用 还算数 废止 过时".split()
)
# asks what a member receives ("退休后有没有补贴"), not what they pay; "每月有点补助，党费咋算" is still a sum
RECEIVING = re.compile(
    r"(?:有没有|有无|能不能|能否|可以|能|给不给|发不发)[^,.?!;:、。]{0,6}(?:补贴|补助|待遇|福利|奖励|奖金)"
)
RETIREE_WORDS = tuple("退休 离休 养老金".split())
FIXED_WORDS = tuple("学生 研究生 博士生 硕士生 在校 下岗 失业 低保 最低生活保障 救济 抚恤".split())
FARMER_WORDS = tuple("农民".split())
ANNUAL_WORDS = tuple("年薪".split())
ANNUAL_MONTH_WORDS = tuple("当月 这个月 本月 实发 实际领 发了 到手".split())
PRETAX = "税前"
AFTER_TAX = "税后"
PRETAX_WORDS = (PRETAX,)
PAY = re.compile(r"[交缴]纳?(?:多少|几)|[该要应得需][交缴]")
_NOT_INCOME_AFTER = re.compile(r"\s*(?:%|‰|个|年|月|次|岁|号|日|天|人|名|位|票|条|期|季|届|分之|倍|小时|周)")
_NOT_INCOME_BEFORE = ("第", "交", "缴", "交了", "缴了")
_NEGATIVE_BEFORE = ("-", "负")
_CN_MAGNITUDE = re.compile(r"[百千万]")
_TAX_MARK = re.compile(r"税前|税后")

_CENT = Decimal("0.01")
_PERCENT = Decimal(100)
_MIN_INCOME = Decimal(1)
_MAX_INCOME = Decimal(10_000_000)


# --- Reading the amounts -------------------------------------------------------------------------------------------


def _amounts(q: str) -> Iterator[tuple[int, int, Decimal]]:
    """(start, end, value) of each number that reads as a monthly amount: not a percentage, a period, a head count
    or a paid sum.

    A Chinese numeral counts only with 百/千/万 in it, so the 一 of 一般 or 一下 is not taken for 1 元.
    """
    for match in NUMBER.finditer(q):
        before = q[: match.start()]
        if _NOT_INCOME_AFTER.match(q, match.end()) or before.endswith(_NOT_INCOME_BEFORE):
            continue
        span = match.group()
        value = None if span[0] in CN_DIGITS and not _CN_MAGNITUDE.search(span) else to_decimal(span)
        if value is None:
            continue
        yield match.start(), match.end(), -value if before.rstrip().endswith(_NEGATIVE_BEFORE) else value


def _income(q: str) -> Decimal | None:
    """The first monthly amount in the question."""
    return next((value for _, _, value in _amounts(q)), None)


def _taxed_amounts(q: str) -> dict[str, Decimal]:
    """Amounts marked 税前 or 税后, the first of each: 税前8000，税后6500 / 8000税前、6500税后.

    A number takes the mark in its own clause before it; failing that, the mark right after it, which is then
    used up so that the next number does not take it too.
    """
    found: dict[str, Decimal] = {}
    amounts = list(_amounts(q))
    used_until = 0
    for i, (start, end, value) in enumerate(amounts):
        previous_end = max(amounts[i - 1][1] if i else 0, used_until)
        marks = _TAX_MARK.findall(CLAUSE_BREAK.split(q[previous_end:start])[-1])
        mark = marks[-1] if marks else None
        if mark is None:
            next_start = amounts[i + 1][0] if i + 1 < len(amounts) else len(q)
            after = _TAX_MARK.search(CLAUSE_BREAK.split(q[end:next_start])[0])
            if after is not None:
                mark, used_until = after.group(), end + after.end()
        if mark is not None:
            found.setdefault(mark, value)
    return found


def _rate(amount: Decimal, brackets: tuple[tuple[Decimal | None, str, Decimal], ...]) -> tuple[str, Decimal]:
    for ceiling, label, rate in brackets:
        if ceiling is None or amount <= ceiling:
            return label, rate
    raise AssertionError("the last bracket has no ceiling")


def _dues_text(template: str, amount: Decimal, brackets: tuple[tuple[Decimal | None, str, Decimal], ...]) -> str:
    label, rate = _rate(amount, brackets)
    due = (amount * rate / _PERCENT).quantize(_CENT, rounding=ROUND_HALF_UP)
    return template.format(amount=plain(amount), bracket=label, rate=plain(rate), due=due)


def dues(q: str) -> Calculation | None:
    if has_any(q, DUES_OFF_TOPIC) or RECEIVING.search(q):
        return None
    if has_any(q, FIXED_WORDS):
        return Calculation("dues", DUES_FIXED, DUES_TITLE, SECTION_FIXED)
    if has_any(q, FARMER_WORDS):
        return Calculation("dues", DUES_FARMER, DUES_TITLE, SECTION_FARMER)
    retiree, annual = has_any(q, RETIREE_WORDS), has_any(q, ANNUAL_WORDS)
    taxed = _taxed_amounts(q)
    amount = taxed[AFTER_TAX] if AFTER_TAX in taxed else _income(q)
    if amount is None:
        if retiree:
            return Calculation("dues", DUES_RETIREE_GENERAL, DUES_TITLE, SECTION_RETIREE)
        if annual:
            return Calculation("dues", DUES_ANNUAL_GENERAL, DUES_TITLE, SECTION_ANNUAL)
        return None
    if not _MIN_INCOME <= amount <= _MAX_INCOME:
        return Calculation("dues", DUES_ABSURD.format(amount=plain(amount)), DUES_TITLE, SECTION_BASE)
    if annual and not has_any(q, ANNUAL_MONTH_WORDS):
        return Calculation("dues", DUES_ANNUAL_GENERAL, DUES_TITLE, SECTION_ANNUAL)
    parts = []
    if AFTER_TAX in taxed and PRETAX in taxed:  # both given: the base is the after-tax one, and we say so first
        template = DUES_AFTER_TAX_USED_RETIREE if retiree else DUES_AFTER_TAX_USED
        parts.append(template.format(after=plain(taxed[AFTER_TAX]), before=plain(taxed[PRETAX])))
    if retiree:
        parts += [_dues_text(DUES_RETIREE, amount, BRACKET_RETIREE), DUES_FLAT_NOTE, DUES_RETIREE_NOTE]
        return Calculation("dues", "".join(parts), DUES_TITLE, SECTION_RETIREE)
    parts += [_dues_text(DUES_IN_SERVICE, amount, BRACKET_IN_SERVICE), DUES_FLAT_NOTE]
    if annual:
        parts.append(DUES_ANNUAL_NOTE)
    parts.append(DUES_BASE_NOTE)
    if AFTER_TAX not in taxed and has_any(q, PRETAX_WORDS):  # only a pre-tax amount: ask for the after-tax one
        parts.append(DUES_PRETAX_NOTE)
    return Calculation("dues", "".join(parts), DUES_TITLE, SECTION_IN_SERVICE)
