"""A second, independent ranking signal: BM25 over character bigrams (bm25s), blind to word segmentation.

jieba cuts a paraphrase differently from the entry it means ("开几回" against "开1次", "拍板" against "决定"),
and a document's own words (头等大事, 首创之区) are not in its dictionary; overlapping character pairs still
meet. The word-level ranker (knowledge.index) and this one are fused by rank in knowledge.ranking.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import bm25s
import numpy as np

logging.getLogger("bm25s").setLevel(logging.WARNING)

_RUN = re.compile(r"[\u3400-\u9fff]+|[0-9a-z]+(?:\.[0-9]+)?")


def char_bigrams(normalized: str) -> list[str]:
    """Bigrams of each CJK run (a lone character stands for itself) and whole ASCII words and numbers."""
    grams: list[str] = []
    for run in _RUN.findall(normalized):
        if not ("\u3400" <= run[0] <= "\u9fff") or len(run) == 1:
            grams.append(run)
        else:
            grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams


class BigramIndex:
    """Character-bigram BM25 over fixed texts (already normalised); ``scores`` is read-only and thread-safe."""

    def __init__(self, normalized_texts: Sequence[str]) -> None:
        self._size = len(normalized_texts)
        corpus = [char_bigrams(text) or [""] for text in normalized_texts]
        self._bm25 = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
        if self._size:
            self._bm25.index(corpus, show_progress=False)
        self._vocabulary = frozenset(self._bm25.vocab_dict) if self._size else frozenset()

    def __len__(self) -> int:
        return self._size

    def scores(self, normalized_question: str) -> np.ndarray:
        """One score per text, in the order given."""
        known = [g for g in char_bigrams(normalized_question) if g in self._vocabulary]
        if not known:
            return np.zeros(self._size, dtype=np.float32)
        return self._bm25.get_scores(known)
