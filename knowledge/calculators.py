"""Arithmetic questions asked in the question box: Party dues and meeting head counts.

The two calculators live in knowledge.dues_calculator and knowledge.vote_calculator; knowledge.calculation holds
what they share.
"""

from __future__ import annotations

from knowledge.calculation import Calculation, has_any
from knowledge.dues_calculator import INCOME_WORDS, OTHER_FEES, PAY, dues
from knowledge.normalize import normalize_for_match
from knowledge.vote_calculator import votes

__all__ = ["Calculation", "calculate"]


def calculate(question: str) -> Calculation | None:
    """Work out the dues or head count a question asks for; ``None`` when the question is not a calculation."""
    q = normalize_for_match(question)
    if "党费" in q or (has_any(q, INCOME_WORDS) and PAY.search(q) and not has_any(q, OTHER_FEES)):
        return dues(q)
    return votes(q)
