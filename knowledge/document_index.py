"""Answering from one uploaded document: its passages ranked against each other, confidence judged against it.

A speech or a unit's regulation speaks its own language (头等大事, 红帆工程), so neither the curated vocabulary
nor the curated entries' statistics say whether it answers a question. Here the document's own new words are
taught to jieba first (knowledge.vocabulary), the passages are ranked by both rankers with IDF taken within the
document, and confidence is the share of the question's topic words the best passage holds — literally or as the
same canonical term.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.analyzer import Analyzer, Terms
from knowledge.index import NON_TOPIC_WORDS, Hit
from knowledge.passage import Passage
from knowledge.ranking import Ranker, matching_text

# words that point at the document rather than at what is asked ("讲话里说…", "办法规定…")
DOCUMENT_POINTERS = frozenset("讲话 文件 办法 规定 条例 文中 里面 里 提到 说 讲 写 这份 材料 上面 中 当中 提出 强调".split())
SINGLE_CHARACTER_WEIGHT = 0.4  # a one-character word ("跑", "送") says little about the topic
PARTIAL_CREDIT = 0.5  # a word whose character pairs all occur in the passage, though not the word itself


@dataclass(frozen=True, slots=True)
class DocumentHit:
    hit: Hit
    coverage: float  # share of the question's topic-word weight the best passage holds
    others: tuple[Hit, ...]


class DocumentIndex:
    """One document's passages (all of one document, so of one scope). Build once; ``best`` is read-only."""

    def __init__(self, passages: Sequence[Passage], analyzer: Analyzer) -> None:
        self.passages = list(passages)
        self.scope = self.passages[0].scope if self.passages else None
        self._analyzer = analyzer
        self._texts = [matching_text(p) for p in self.passages]
        self.words = analyzer.learn(self._texts)
        self._ranker = Ranker(self.passages, analyzer)

    def best(self, question: Terms) -> DocumentHit | None:
        hits = self._ranker.search(question, self.scope, limit=3)
        if not hits:
            return None
        return DocumentHit(hits[0], self._coverage(question, hits[0]), tuple(hits[1:]))

    def _coverage(self, question: Terms, hit: Hit) -> float:
        text = self._texts[hit.number]
        pairs = {text[i : i + 2] for i in range(len(text) - 1)}
        total = covered = 0.0
        for word in dict.fromkeys(question.words):
            if word in NON_TOPIC_WORDS or word in DOCUMENT_POINTERS:
                continue
            weight = self._analyzer.informativeness(word)
            if len(word) == 1:
                weight *= SINGLE_CHARACTER_WEIGHT
            total += weight
            if word in text or self._ranker.words.contains(hit.number, word):
                covered += weight
            elif len(word) > 2 and all(word[i : i + 2] in pairs for i in range(len(word) - 1)):
                covered += PARTIAL_CREDIT * weight
        return covered / total if total else 0.0
