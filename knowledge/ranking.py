"""One ranking over a set of passages: the word-level ranker and the character-bigram ranker, fused by rank.

Reciprocal-rank fusion needs no common scale between the two scores: each passage earns ``weight / (K + rank)``
from each ranker. The word ranker knows the domain (synonyms, phrasing and intent boosts); the bigram ranker
recovers paraphrases and words jieba cuts differently. The fused hits keep the word ranker's coverage, which
knowledge.answer uses as confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from knowledge.analyzer import Analyzer, Terms
from knowledge.bigram_index import BigramIndex
from knowledge.index import RESCORED, Hit, PassageIndex
from knowledge.normalize import normalize_for_match
from knowledge.passage import Passage

FUSION_K = 10
WORD_WEIGHT = 1.0
BIGRAM_WEIGHT = 0.6
BIGRAM_LEADERS = 15  # passages the bigram ranker contributes; further down, 0.6 / (K + rank) hardly counts


def matching_text(passage: Passage) -> str:
    """What the bigram ranker sees of a passage: its headings, listed phrasings and text."""
    return normalize_for_match(" ".join((*passage.heading_path, *passage.phrasings, passage.text)))


class Ranker:
    """Both rankers over the same passages, in the same order. Build once; ``search`` is read-only."""

    def __init__(self, passages: Sequence[Passage], analyzer: Analyzer) -> None:
        self._passages = list(passages)
        self.words = PassageIndex(self._passages, analyzer)
        self.bigrams = BigramIndex([matching_text(p) for p in self._passages])
        self._shared = np.array([p.scope is None for p in self._passages], dtype=bool)
        # a shared passage has no branch: -1 never equals a branch id
        self._scopes = np.array([-1 if p.scope is None else p.scope for p in self._passages], dtype=np.int64)

    def __len__(self) -> int:
        return len(self._passages)

    def search(self, question: Terms, scope: int | None = None, limit: int = 5) -> list[Hit]:
        word_hits = self.words.rescore(question, self.words.leaders(question, scope, RESCORED))
        bigram_order = self._bigram_order(question, scope)
        by_number = {hit.number: hit for hit in word_hits}
        missing = [(n, 0.0) for n in bigram_order if n not in by_number]
        for hit in self.words.rescore(question, missing):
            by_number[hit.number] = hit
        fused: dict[int, float] = {}
        for rank, hit in enumerate(word_hits, 1):
            fused[hit.number] = WORD_WEIGHT / (FUSION_K + rank)
        for rank, number in enumerate(bigram_order, 1):
            fused[number] = fused.get(number, 0.0) + BIGRAM_WEIGHT / (FUSION_K + rank)
        order = sorted(fused, key=fused.__getitem__, reverse=True)[:limit]
        both_first = {word_hits[0].number} & set(bigram_order[:1]) if word_hits else set()
        return [
            replace(by_number[n], score=round(fused[n] * 100, 4), agreed=n in both_first)
            for n in order
            if n in by_number
        ]

    def _bigram_order(self, question: Terms, scope: int | None) -> list[int]:
        scores = self.bigrams.scores(question.normalized)
        visible = self._shared if scope is None else self._shared | (self._scopes == scope)
        scores = np.where(visible, scores, 0.0)
        count = min(BIGRAM_LEADERS, len(scores))
        if count == 0:
            return []
        top = np.argpartition(-scores, count - 1)[:count]
        return [int(n) for n in sorted(top, key=lambda n: -scores[n]) if scores[n] > 0]
