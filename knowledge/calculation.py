"""What a calculator returns, and the reading of numbers both calculators share (6,000 / 4千8 / 1.2万 / 六千)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

CN_DIGITS = "零〇一二两三四五六七八九十百千万"
NUMBER = re.compile(
    rf"(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?(?:[十百千万][\d{CN_DIGITS}]*)?|[零〇一二两三四五六七八九十][{CN_DIGITS}]*"
)
CLAUSE_BREAK = re.compile(r"[,.?!;:、。]")
PLAIN_NUMBER = re.compile(r"[\d,]+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class Calculation:
    """A worked answer: ``kind`` is "dues" or "votes"; ``title`` and ``section`` name the rule it applies."""

    kind: str
    answer: str
    title: str
    section: str


def has_any(text: str, words: tuple[str, ...]) -> bool:
    return any(w in text for w in words)


def to_decimal(span: str) -> Decimal | None:
    """Read 6,000 / 4千8 / 1.2万 / 六千 as a Decimal; None for a span cn2an cannot read."""
    if PLAIN_NUMBER.fullmatch(span):
        return Decimal(span.replace(",", ""))
    import cn2an  # only for Chinese numerals; importing it costs ~0.15 s of every cold start

    try:
        return Decimal(str(cn2an.cn2an(span.replace(",", ""), "smart")))
    except (ValueError, KeyError):  # cn2an raises KeyError on some malformed mixes such as 0十2
        return None


def plain(value: Decimal) -> str:
    """6000 -> "6000", 3000.01 -> "3000.01", 18.4 -> "18.4"; any size, at most two decimals."""
    text = f"{value:.2f}"
    return text.removesuffix(".00") if text.endswith(".00") else text.rstrip("0")
