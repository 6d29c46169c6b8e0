"""Arithmetic questions asked in the question box: Party dues and meeting head counts.

``calculate(question)`` is called before passages are ranked. It returns a worked answer when the question asks
for a sum the rules determine — the monthly dues for an income or a kind of member (中组部 2008 年党费规定), or how
many members must attend or vote yes at a 党员大会, an election or a 支委会 — and ``None`` for every other
question, which the curated passages answer instead. The module is a pure library: text in, text out. The two
calculators live in knowledge.dues_calculator and knowledge.vote_calculator; knowledge.calculation holds what they
share.
"""

from __future__ import annotations

from knowledge.asked_kinds import other_body
from knowledge.calculation import Calculation, has_any
from knowledge.dues_calculator import INCOME_WORDS, OTHER_FEES, PAY, dues
from knowledge.normalize import normalize_for_match
from knowledge.vote_calculator import votes

__all__ = ["Calculation", "calculate"]


def calculate(question: str) -> Calculation | None:
    """Work out the dues or head count a question asks for; ``None`` when the question is not a calculation."""
    q = normalize_for_match(question)
    if other_body(q):  # another organisation's meeting or fee ("团员大会到会多少人"): not the Party's rules
        return None
    if "党费" in q or (has_any(q, INCOME_WORDS) and PAY.search(q) and not has_any(q, OTHER_FEES)):
        return dues(q)
    return votes(q)
