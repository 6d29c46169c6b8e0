"""Turn a question into an Answer: calculators first, then the best passage, or an honest "not found".

Order: an empty question is refused; an arithmetic question (党费, 到会与表决) goes to knowledge.calculators;
a question naming an ambiguous phrase ("党支部委员会大会") is answered for each reading; anything else is ranked,
and the best passage is quoted only when the question's terms are covered well enough — below that the answer
says nothing reliable was found and offers the nearest topics. No rule is ever composed from fragments.
"""

from __future__ import annotations

from collections.abc import Iterable

from knowledge.analyzer import Analyzer, shared_analyzer
from knowledge.answer_types import Answer, Candidate, Source
from knowledge.calculators import calculate
from knowledge.index import Hit, PassageIndex
from knowledge.passage import Passage

# Share of the question's term weight the best passage must contain. Off-topic questions never share a domain
# term with a passage (0 of 48 in the development set), so a shared domain term lets the bar drop.
MIN_COVERAGE = 0.65
MIN_COVERAGE_WITH_DOMAIN_TERM = 0.3
MAX_QUESTION_CHARS = 300  # longer input is cut before analysis; a question is never that long
NEAREST_TOPICS = 3

NOT_FOUND = "抱歉，没有找到可靠的答案。请换个说法再问，或咨询上级党组织。"
NOT_FOUND_WITH_TOPICS = "抱歉，没有找到可靠的答案。您可以换个说法再问，或看看下面这些相关主题。"
EMPTY_QUESTION = "请直接输入您的问题，例如：支委会多久开一次？"
LOCAL_PRACTICE_NOTE = "说明：这是多数地方的做法，不是中央统一规定，请以上级党组织的要求为准。"
BASIS_LINE = "依据：{basis}"
AMBIGUOUS_INTRO = "“{phrase}”可能指不同的会议，下面分别说明："
READING_BLOCK = "【{topic}】\n{text}"


class Answerer:
    """Answers questions from a fixed set of passages. Build once at start-up; answering is read-only."""

    def __init__(self, passages: Iterable[Passage], analyzer: Analyzer | None = None) -> None:
        self._analyzer = analyzer or shared_analyzer()
        self._passages = {p.key: p for p in passages}
        self._index = PassageIndex(self._passages.values(), self._analyzer)

    def __len__(self) -> int:
        return len(self._passages)

    def passage(self, key: str) -> Passage | None:
        return self._passages.get(key)

    def answer(self, question: str, scope: int | None = None) -> Answer:
        text = question.strip()[:MAX_QUESTION_CHARS]
        if not text:
            return Answer(question, False, EMPTY_QUESTION, 0.0, None, [])
        calculation = calculate(text)
        if calculation is not None:
            return Answer(question, True, calculation.answer, 1.0, Source(calculation.title, calculation.section), [])
        terms = self._analyzer.analyze(text)
        ambiguous = self._analyzer.ambiguous_readings(terms.normalized)
        if ambiguous is not None:
            phrase, readings = ambiguous
            return self._answer_readings(question, terms.normalized, phrase, readings, scope)
        hits = self._index.search(terms, scope, limit=NEAREST_TOPICS + 1)
        if not hits or not _reliable(hits[0]):
            return self._not_found(question, hits)
        return self._found(question, hits[0], hits[1:])

    def rank(self, question: str, scope: int | None = None, limit: int = 10) -> list[Candidate]:
        """The best-scoring passages for a question, with no confidence cut (for search and evaluation)."""
        terms = self._analyzer.analyze(question.strip()[:MAX_QUESTION_CHARS])
        return [_candidate(h) for h in self._index.search(terms, scope, limit=limit)]

    def explain(self, key: str, scope: int | None = None) -> Answer | None:
        """The answer for one known passage (a "相关问题" button), or None if it is unknown or not visible."""
        passage = self._passages.get(key)
        if passage is None or passage.scope not in (None, scope):
            return None
        return self._found(passage.topic, Hit(passage, 1.0, 1.0, True, True), [])

    def _found(self, question: str, best: Hit, others: list[Hit]) -> Answer:
        passage = best.passage
        return Answer(
            question=question,
            found=True,
            answer=_answer_text(passage),
            score=best.coverage,
            source=Source(passage.title, passage.section),
            candidates=[_candidate(h) for h in (best, *others)],
        )

    def _not_found(self, question: str, hits: list[Hit]) -> Answer:
        nearest = [_candidate(h) for h in hits[:NEAREST_TOPICS]]
        score = hits[0].coverage if hits else 0.0
        return Answer(question, False, NOT_FOUND_WITH_TOPICS if nearest else NOT_FOUND, score, None, nearest)

    def _answer_readings(
        self, question: str, normalized: str, phrase: str, readings: tuple[str, ...], scope: int | None
    ) -> Answer:
        best: list[Hit] = []
        for reading in readings:
            hits = self._index.search(self._analyzer.analyze(normalized.replace(phrase, reading)), scope, limit=1)
            if hits and _reliable(hits[0]) and hits[0].passage not in [h.passage for h in best]:
                best.append(hits[0])
        if not best:
            return self._not_found(question, [])
        if len(best) == 1:
            return self._found(question, best[0], [])
        blocks = [READING_BLOCK.format(topic=h.passage.topic, text=_answer_text(h.passage)) for h in best]
        first = best[0].passage
        return Answer(
            question=question,
            found=True,
            answer="\n\n".join([AMBIGUOUS_INTRO.format(phrase=phrase), *blocks]),
            score=min(h.coverage for h in best),
            source=Source(first.title, first.section),
            candidates=[_candidate(h) for h in best],
        )


def _reliable(hit: Hit) -> bool:
    floor = MIN_COVERAGE_WITH_DOMAIN_TERM if hit.domain else MIN_COVERAGE
    return hit.topical and hit.coverage >= floor


def _answer_text(passage: Passage) -> str:
    parts = [passage.text]
    if passage.local_practice:
        parts.append(LOCAL_PRACTICE_NOTE)
    if passage.basis:
        parts.append(BASIS_LINE.format(basis=passage.basis))
    return "\n\n".join(parts)


def _candidate(hit: Hit) -> Candidate:
    p = hit.passage
    return Candidate(p.key, p.title, p.section, p.topic, hit.score)
