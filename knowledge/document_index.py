"""Answering from one uploaded document: its passages ranked against each other, confidence judged against it.

A speech or a unit's regulation speaks its own language (头等大事, 红帆工程), so neither the curated vocabulary
nor the curated entries' statistics say whether it answers a question. Here the document's own new words are
taught to jieba first (knowledge.vocabulary), the passages are ranked by both rankers with IDF taken within the
document, and confidence is the share of the question's topic words the best passage holds — literally or as the
same canonical term.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from knowledge.analyzer import Analyzer, Terms
from knowledge.asked_kinds import answer_types, states_answer_type
from knowledge.index import NON_TOPIC_WORDS, Hit
from knowledge.passage import Passage
from knowledge.ranking import Ranker, matching_text
from knowledge.regulation_words import formal_forms, with_formal_words

# words that point at the document rather than at what is asked ("讲话里说…", "办法规定…")
DOCUMENT_POINTERS = frozenset(
    "讲话 文件 办法 规定 条例 条文 条款 文中 里面 里 提到 说 讲 写 这份 材料 上面 中 当中 提出 强调".split()
)
SINGLE_CHARACTER_WEIGHT = 0.4  # a one-character word ("跑", "送") says little about the topic
PARTIAL_CREDIT = 0.5  # a word whose characters all occur in the passage, though not the word itself
UNKNOWN_WORD_WEIGHT = 6.0
MISSING_OTHER_WEIGHT = 0.3  # a missing verb or particle, against a missing noun
LEADERS = 3  # passages, by rank, among which the best is chosen
ANSWER_TYPE_BONUS = 0.3  # for a passage stating a fact of the kind asked (a duration for "多长时间")
# Share of the question's topic-word weight the best passage must hold to be quoted. Paraphrases keep about half
# of a question's words; the asked-kind check below turns away most questions the document leaves open.
MIN_COVERAGE = 0.5
# ... and of a question asking for a kind of fact ("多久", "多少钱"), by a passage that states one: that is evidence of
# its own (tuning documents: 3 more answered, no open question more; validation documents: 4 more, 1 more answered)
MIN_COVERAGE_STATING_KIND = 0.4
# The asker's own case, a number with its unit ("八百块", "七十七", "三个"): a rule states the threshold
# (单笔1000元以下, 年满75周岁), not the case, so any passage stating a number holds it. "几个" asks; it is no case.
CASE_QUANTITY = re.compile(r"(?:[0-9一二三四五六七八九十百千万两]|几(?=[十百千万]))+[块元钱岁个名位次天]*")
STATES_NUMBER = re.compile(r"[0-9]|[一二三四五六七八九十两]\s*(?:个|名|位|次|天|日|年|月|周|岁|元|人|分之)")
# "谁"/"哪个部门" is answered by almost any sentence of a regulation (由…负责): too loose to decide on
LOOSE_KINDS = frozenset({"who"})


@dataclass(frozen=True, slots=True)
class _Question:
    """A question as one document sees it: its terms (cut with the document's own words), the same with the
    regulation's words for its everyday ones added (for ranking), and the kinds of fact it asks for."""

    terms: Terms
    expanded: Terms
    kinds: frozenset[str]

    @classmethod
    def of(cls, terms: Terms, analyzer: Analyzer) -> _Question:
        if analyzer.cuts_differently(terms.normalized):  # cut by the shared analyzer, which knows no own word
            terms = analyzer.analyze(terms.normalized, repair=False)
        expanded = with_formal_words(terms, lambda text: analyzer.analyze(text, repair=False))
        return cls(terms, expanded, answer_types(terms.normalized))


class DocumentIndex:
    """One document's passages (all of one document, so of one scope). Build once; ``best`` is read-only."""

    def __init__(self, passages: Sequence[Passage], analyzer: Analyzer) -> None:
        self.passages = list(passages)
        self.scope = self.passages[0].scope if self.passages else None
        self._texts = [matching_text(p) for p in self.passages]
        self._analyzer = analyzer.with_document_words(self._texts)
        self._states_number = [STATES_NUMBER.search(text) is not None for text in self._texts]
        self._ranker = Ranker(self.passages, self._analyzer)

    def search(self, terms: Terms, limit: int) -> list[Hit]:
        """The best passages, each with its coverage of the question judged against this document. Of the leading
        passages, the one that holds most of the question comes first (ties: the better ranked), a passage stating
        a fact of the kind asked ("几天", "多少分") earning a bonus: that is the one answering quotes."""
        return self._ranked(_Question.of(terms, self._analyzer), limit)

    def best(self, terms: Terms) -> tuple[Hit, bool] | None:
        """The passage answering quotes, and whether it can be quoted: it holds enough of the question and, when the
        question asks for a number, a date or a share, it states one of that kind."""
        question = _Question.of(terms, self._analyzer)
        hits = self._ranked(question, 1)
        if not hits:
            return None
        hit = hits[0]
        kinds = question.kinds - LOOSE_KINDS
        if kinds:  # a specific question: the passage must state that kind of fact, and then needs less of its wording
            quotable = hit.coverage >= MIN_COVERAGE_STATING_KIND and states_answer_type(self._texts[hit.number], kinds)
        else:
            quotable = hit.coverage >= MIN_COVERAGE
        return hit, quotable

    def _ranked(self, question: _Question, limit: int) -> list[Hit]:
        hits = self._ranker.search(question.expanded, self.scope, limit=max(limit, LEADERS))
        hits = [replace(h, coverage=self._coverage(question.terms, h)) for h in hits]

        def merit(hit: Hit) -> float:
            fits = bool(question.kinds) and states_answer_type(self._texts[hit.number], question.kinds)
            return hit.coverage + (ANSWER_TYPE_BONUS if fits else 0.0)

        leaders = sorted(hits[:LEADERS], key=merit, reverse=True)  # a stable sort keeps the better ranked of equals
        return (leaders + hits[LEADERS:])[:limit]

    def _coverage(self, question: Terms, hit: Hit) -> float:
        """Held topic weight against held plus missing; a missing noun counts in full, other words in part."""
        text = self._texts[hit.number]
        covered = missing = 0.0
        for word in dict.fromkeys(question.words):
            if word in NON_TOPIC_WORDS or word in DOCUMENT_POINTERS:
                continue
            weight = self._analyzer.informativeness(word)
            if not self._analyzer.knows(word):  # jieba's guess at an unknown word ("来办", "户来")
                weight = min(weight, UNKNOWN_WORD_WEIGHT)
            if len(word) == 1:
                weight *= SINGLE_CHARACTER_WEIGHT
            if self._holds(hit.number, text, word):
                covered += weight
            elif all(character in text for character in word):
                covered += PARTIAL_CREDIT * weight
            else:
                missing += weight if self._analyzer.is_noun(word) else MISSING_OTHER_WEIGHT * weight
        return covered / (covered + missing) if covered else 0.0

    def _holds(self, number: int, text: str, word: str) -> bool:
        """The passage has the word, as text or as its canonical term, or the regulation's word for it; or the word is
        the asker's own quantity and the passage states a number."""
        return (
            word in text
            or (self._states_number[number] and CASE_QUANTITY.fullmatch(word) is not None)
            or self._ranker.words.contains(number, word)
            or any(formal in text for formal in formal_forms(word))
        )
