"""Turn a question into an Answer: calculators first, then the ranked passages, refusing below confidence.

(First cut: a simple overlap ranking; the tuned ranker replaces it.)
"""

from __future__ import annotations

from collections.abc import Iterable

import jieba

from knowledge.answer_types import Answer, Candidate, Source
from knowledge.normalize import normalize_for_match
from knowledge.passage import Passage


class Answerer:
    """Answers questions from a fixed set of passages. Build once at start-up; answering is read-only."""

    def __init__(self, passages: Iterable[Passage]) -> None:
        self._passages = {p.key: p for p in passages}
        self._tokens = {
            key: set(jieba.lcut(normalize_for_match(" ".join((p.section, *p.phrasings, p.text)))))
            for key, p in self._passages.items()
        }

    def passage(self, key: str) -> Passage | None:
        return self._passages.get(key)

    def answer(self, question: str, scope: int | None = None) -> Answer:
        words = {w for w in jieba.lcut(normalize_for_match(question)) if len(w) > 1}
        ranked = sorted(
            ((len(words & toks) / (len(words) or 1), key) for key, toks in self._tokens.items()
             if self._passages[key].scope in (None, scope)),
            reverse=True,
        )
        if not ranked or ranked[0][0] < 0.5:
            return Answer(question, False, "未找到可靠答案。", 0.0, None,
                          [self._candidate(k, s) for s, k in ranked[:3]])
        score, key = ranked[0]
        return self.explain(key, question, score, ranked)

    def explain(self, key: str, question: str = "", score: float = 1.0, ranked=()) -> Answer:
        p = self._passages[key]
        return Answer(question or p.topic, True, p.text, score, Source(p.title, p.section),
                      [self._candidate(k, s) for s, k in ranked[:4]])

    def _candidate(self, key: str, score: float) -> Candidate:
        p = self._passages[key]
        return Candidate(key, p.title, p.section, p.topic, score)
