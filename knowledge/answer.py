"""Turn a message into an Answer: small talk, calculators, then each question it asks, or an honest "not found".

Order: an empty message is refused; a greeting gets a friendly reply; an arithmetic question (党费, 到会与表决)
goes to knowledge.calculators; an overview question ("三会一课分别多久开一次") is answered for each meeting kind
it spans, in one short list; a message asking several things is answered part by part, each with its source; a
question naming an ambiguous phrase ("党支部委员会大会") is answered for each reading. A single question is
ranked over the curated entries and over each uploaded document the asker may see; the branch's own document is
quoted first when it answers, followed by the general rule when that answers too. Below confidence the answer
says nothing reliable was found and offers the nearest topics. No rule is ever composed from fragments.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from knowledge import lexicon
from knowledge.analyzer import Analyzer, Terms, shared_analyzer
from knowledge.answer_types import Answer, Candidate, Source
from knowledge.asked_kinds import asks_for_writing, other_body, states_what_is_asked
from knowledge.calculators import Calculation, calculate
from knowledge.document_index import DocumentIndex
from knowledge.index import Hit
from knowledge.intents import INTENT_CUES
from knowledge.normalize import normalize_for_match
from knowledge.passage import Passage
from knowledge.pinyin_input import PinyinReader, looks_like_pinyin
from knowledge.ranking import Ranker
from knowledge.smalltalk import small_talk_reply
from knowledge.splitter import first_kind_name, overview_parts, split_question

# Share of the question's term weight the best curated entry must contain. Off-topic questions never share a
# domain term with an entry (0 of 48 in the development set), so a shared domain term lets the bar drop.
MIN_COVERAGE = 0.65
MIN_COVERAGE_WITH_DOMAIN_TERM = 0.3
MIN_CONFIDENCE = 0.5
MIN_COVERAGE_ALONE, MIN_CONFIDENCE_ALONE = 0.5, 0.7  # when the two rankers put different passages first
MAX_QUESTION_CHARS = 300  # longer input is cut before analysis; a question is never that long
NEAREST_TOPICS = 3
# what a document passage must speak of to stand beside a worked answer of each kind
CALCULATION_SUBJECTS = {
    "votes": re.compile(r"到会|表决|半数|过半|分之|出席|赞成|法定人数"),
    "dues": re.compile(r"党费"),
}
EXCERPT_CHARS = 260  # a document passage longer than this is quoted by its best sentences

NOT_FOUND = "抱歉，没有找到可靠的答案。请换个说法再问，或咨询上级党组织。"
NOT_FOUND_WITH_TOPICS = "抱歉，没有找到可靠的答案。您可以换个说法再问，或看看下面这些相关主题。"
OTHER_BODY = "这个问题涉及{body}。我只解答党支部工作方面的规定，{body}的要求请向相关组织咨询。"
WRITING_REQUEST = "抱歉，我不能代写材料，只解答党支部工作的规定和要求。动笔前可以先问问这类材料有什么要求。"
EMPTY_QUESTION = "请直接输入您的问题，例如：支委会多久开一次？"
LOCAL_PRACTICE_NOTE = "说明：这是多数地方的做法，不是中央统一规定，请以上级党组织的要求为准。"
BASIS_LINE = "依据：{basis}"
AMBIGUOUS_INTRO = "“{phrase}”可能指不同的会议，下面分别说明："
READING_BLOCK = "【{topic}】\n{text}"
PART_BLOCK = "{number}. {question}\n{text}\n（来源：{source}）"
PART_NOT_FOUND = "{number}. {question}\n没有找到可靠的答案，请单独换个说法再问。"
OVERVIEW_LINE = "· {kind}：{fact}（{basis}）"
OVERVIEW_INTRO = "分别说明如下（详细规定可以单独问）："
DOCUMENT_BLOCK = "【{title}】\n{text}"
GENERAL_BLOCK = "【通用规定】\n{text}\n（来源：{source}）"
EXCERPT_GAP = "……"
# words a pinyin question is asked with, beyond the knowledge's own (see PinyinReader)
QUESTION_WORDS = "是 什么 怎么 多少 几个 几次 多久 一次 谁 吗 呢 要 交 开 有 哪些 可以 能 不能 规定 要求".split()

_SENTENCE_END = re.compile(r"(?<=[。；！？!?;])|\n")


@dataclass(slots=True)
class _Resolved:
    """One question resolved: the passages that answer it, best first, or the nearest topics."""

    question: str
    found: bool
    passages: list[Passage] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)  # for candidates: the answer's own first
    score: float = 0.0
    terms: Terms | None = None
    calculation: Calculation | None = None  # a calculator answered instead of a passage

    @property
    def key(self) -> str:
        """What answered: a passage key, or the calculator's kind."""
        return f"calc:{self.calculation.kind}" if self.calculation else self.passages[0].key

    @property
    def identity(self) -> str:
        """What tells two answers apart: the passage, or a calculator's worked text (two sums are two answers)."""
        return self.calculation.answer if self.calculation else self.passages[0].key


class Answerer:
    """Answers questions from a fixed set of passages. Build once at start-up; answering is read-only."""

    def __init__(self, passages: Iterable[Passage], analyzer: Analyzer | None = None) -> None:
        self._analyzer = analyzer or shared_analyzer()
        self._passages = {p.key: p for p in passages}
        by_document: dict[int, list[Passage]] = defaultdict(list)
        for passage in self._passages.values():
            if passage.document is not None:
                by_document[passage.document].append(passage)
        # documents first: each teaches jieba its own words before anything else is cut
        self._documents = [DocumentIndex(ps, self._analyzer) for ps in by_document.values()]
        curated = [p for p in self._passages.values() if p.document is None]
        self._index = Ranker(curated, self._analyzer)

    def __len__(self) -> int:
        return len(self._passages)

    @cached_property
    def _pinyin(self) -> PinyinReader:
        """Built on the first question that needs it. A shared sound goes to the first word: domain terms, then the
        words questions are asked with, then the knowledge's own words, commonest first."""
        cues = (cue for cues in INTENT_CUES.values() for cue in cues)
        return PinyinReader([*lexicon.SYNONYMS, *QUESTION_WORDS, *cues, *self._index.words.vocabulary_by_frequency()])

    def passage_keys(self) -> list[str]:
        return list(self._passages)

    def passage(self, key: str) -> Passage | None:
        return self._passages.get(key)

    def answer(self, question: str, scope: int | None = None) -> Answer:
        text = question.strip()[:MAX_QUESTION_CHARS]
        if not text:
            return Answer(question, False, EMPTY_QUESTION, 0.0, None, [])
        reply = small_talk_reply(text)
        if reply is not None:
            return Answer(question, False, reply, 0.0, None, [], small_talk=True)
        normalized = normalize_for_match(text)
        if asks_for_writing(normalized):  # the rules it touches are offered as nearest topics
            nearest = _candidates(self._resolve(text, scope).hits[:NEAREST_TOPICS])
            return Answer(question, False, WRITING_REQUEST, 0.0, None, nearest, writing_request=True)
        if looks_like_pinyin(normalized):  # the reader is built only then: most people never type pinyin
            text = self._pinyin.read(normalized) or text
        parts = split_question(text)
        if len(parts) > 1:  # each part may be a calculation of its own ("多久开一次，表决要到多少人")
            return self._multi_part(question, parts, scope)
        calculation = calculate(text)
        if calculation is not None:
            return self._calculated(question, text, calculation, scope)
        overview = overview_parts(text)
        if overview is not None:
            answered = self._overview(question, overview, scope)
            if answered is not None:
                return answered
        return self._from_resolved(question, self._resolve(text, scope))

    def _calculated(self, question: str, text: str, calculation: Calculation, scope: int | None) -> Answer:
        """A worked answer, led by the branch's own document when a passage of it answers: a branch may set its own
        quorum ("三分之二以上委员到会") or say how its dues are handled."""
        source = Source(calculation.title, calculation.section)
        terms = self._analyzer.analyze(text)
        own, quotable = self._document_hit(terms, scope)
        # the asker's own numbers meet any article that states a number: with them, the article must be on the subject
        numbers = any(c.isdigit() for c in terms.normalized)
        subject = CALCULATION_SUBJECTS[calculation.kind]
        if own is None or not quotable or (numbers and not subject.search(own.passage.text)):
            return Answer(question, True, calculation.answer, 1.0, source, [])
        passage = own.passage
        blocks = [
            DOCUMENT_BLOCK.format(title=_document_label(passage), text=self._passage_text(passage, terms)),
            GENERAL_BLOCK.format(text=calculation.answer, source=f"{calculation.title} {calculation.section}"),
        ]
        return Answer(
            question,
            True,
            "\n\n".join(blocks),
            own.coverage,
            _source(passage),
            _candidates([own]),
            part_keys=(passage.key,),
        )

    def rank(self, question: str, scope: int | None = None, limit: int = 10) -> list[Candidate]:
        """The best-scoring passages for a question, curated and uploaded, with no confidence cut (for search).
        The curated entries and each document keep their own ranking, the one answering uses; the lists are merged
        by coverage, the only measure they share."""
        terms = self._analyzer.analyze(question.strip()[:MAX_QUESTION_CHARS])
        ranked = [self._index.search(terms, scope, limit=limit)]
        ranked += [document.search(terms, limit) for document in self._visible_documents(scope)]
        return [_candidate(h) for h in _merged_by_coverage(ranked)[:limit]]

    def explain(self, key: str, scope: int | None = None) -> Answer | None:
        """The answer for one known passage (a "相关问题" button), or None if it is unknown or not visible."""
        passage = self._passages.get(key)
        if passage is None or passage.scope not in (None, scope):
            return None
        hit = Hit(passage, 1.0, 1.0, True, True)
        return self._from_resolved(passage.topic, _Resolved(passage.topic, True, [passage], [hit], 1.0))

    # -- one question ---------------------------------------------------------------------------------------------

    def _resolve(self, text: str, scope: int | None) -> _Resolved:
        terms = self._analyzer.analyze(text)
        ambiguous = self._analyzer.ambiguous_readings(terms.normalized)
        if ambiguous is not None:
            return self._resolve_readings(text, terms, *ambiguous, scope)
        hits = self._index.search(terms, scope, limit=NEAREST_TOPICS + 1)
        general = hits[0] if hits and _reliable(hits[0]) and self._states_what_is_asked(terms, hits[0]) else None
        own, quotable = self._document_hit(terms, scope)
        if own is not None and quotable:
            passages = [own.passage] + ([general.passage] if general is not None else [])
            return _Resolved(text, True, passages, [own, *hits], own.coverage, terms)
        if general is not None:
            return _Resolved(text, True, [general.passage], hits, general.coverage, terms)
        nearest = hits + ([own] if own is not None else [])
        return _Resolved(text, False, [], nearest, hits[0].coverage if hits else 0.0, terms)

    def _states_what_is_asked(self, terms: Terms, hit: Hit) -> bool:
        """A question for a number of days, a year or money is answered only by an entry that states one."""
        return states_what_is_asked(terms.normalized, self._index.words.body(hit.number))

    def _visible_documents(self, scope: int | None) -> list[DocumentIndex]:
        return [document for document in self._documents if document.scope in (None, scope)]

    def _document_hit(self, terms: Terms, scope: int | None) -> tuple[Hit | None, bool]:
        """The best passage of the uploaded documents the asker may see, and whether it can be quoted as the answer
        (a passage that cannot is still a nearest topic); a quotable one first, then the higher coverage."""
        documents = self._visible_documents(scope)
        if not documents:
            return None, False
        found = [best for document in documents if (best := document.best(terms)) is not None]
        return max(found, key=lambda best: (best[1], best[0].coverage), default=(None, False))

    def _resolve_readings(
        self, text: str, terms: Terms, phrase: str, readings: tuple[str, ...], scope: int | None
    ) -> _Resolved:
        best: list[Hit] = []
        for reading in readings:
            hits = self._index.search(self._analyzer.analyze(terms.normalized.replace(phrase, reading)), scope, 1)
            if hits and _reliable(hits[0]) and hits[0].passage not in [h.passage for h in best]:
                best.append(hits[0])
        if not best:
            return _Resolved(text, False)
        resolved = _Resolved(text, True, [h.passage for h in best], best, min(h.coverage for h in best), terms)
        if len(best) > 1:
            resolved.question = AMBIGUOUS_INTRO.format(phrase=phrase)
        return resolved

    # -- composing ------------------------------------------------------------------------------------------------

    def _from_resolved(self, question: str, resolved: _Resolved) -> Answer:
        if not resolved.found:
            nearest = [_candidate(h) for h in resolved.hits[:NEAREST_TOPICS]]
            body = other_body(normalize_for_match(question))
            text = OTHER_BODY.format(body=body) if body else NOT_FOUND_WITH_TOPICS if nearest else NOT_FOUND
            return Answer(question, False, text, resolved.score, None, nearest, other_body=body)
        first = resolved.passages[0]
        candidates = _candidates(resolved.hits)
        if len(resolved.passages) == 1:
            text = self._passage_text(first, resolved.terms)
        elif first.document is not None:
            blocks = [
                DOCUMENT_BLOCK.format(title=_document_label(first), text=self._passage_text(first, resolved.terms))
            ]
            general = resolved.passages[1]
            blocks.append(GENERAL_BLOCK.format(text=_answer_text(general), source=_source_text(general)))
            text = "\n\n".join(blocks)
        else:  # the readings of an ambiguous phrase
            blocks = [READING_BLOCK.format(topic=p.topic, text=_answer_text(p)) for p in resolved.passages]
            text = "\n\n".join([resolved.question, *blocks])
        keys = tuple(p.key for p in resolved.passages) if len(resolved.passages) > 1 else ()
        return Answer(question, True, text, resolved.score, _source(first), candidates, part_keys=keys)

    def _multi_part(self, question: str, parts: list[str], scope: int | None) -> Answer:
        """Each part answered with its own source, when at least two parts find different answers.

        Otherwise the clauses were one question ("领低保的党员要交党费吗，交多少") and the message is answered whole.
        """
        parts = self._with_own_topic(parts)
        resolved = [self._resolve_part(part, scope) for part in parts]
        distinct = {r.identity for r in resolved if r.found}
        if len(parts) < 2 or len(distinct) < 2:
            text = question.strip()[:MAX_QUESTION_CHARS]
            calculation = calculate(text)
            if calculation is not None:
                return self._calculated(question, text, calculation, scope)
            return self._from_resolved(question, self._resolve(text, scope))
        blocks = []
        shown = [r for r in resolved if r.found or self._has_domain_term(r)]
        for number, part in enumerate(shown, 1):
            if not part.found:
                blocks.append(PART_NOT_FOUND.format(number=number, question=part.question))
            elif part.calculation is not None:
                source = f"{part.calculation.title} {part.calculation.section}"
                blocks.append(
                    PART_BLOCK.format(
                        number=number, question=part.question, text=part.calculation.answer, source=source
                    )
                )
            else:
                passage = part.passages[0]
                text = self._passage_text(passage, part.terms)
                blocks.append(
                    PART_BLOCK.format(number=number, question=part.question, text=text, source=_source_text(passage))
                )
        found = [r for r in resolved if r.found]
        first = found[0]
        source = (
            Source(first.calculation.title, first.calculation.section)
            if first.calculation
            else _source(first.passages[0])
        )
        candidates = _candidates([h for r in found for h in r.hits[:1]] + [h for r in found for h in r.hits[1:]])
        keys = tuple(r.key for r in found)
        score = min(r.score for r in found)
        return Answer(question, True, "\n\n".join(blocks), score, source, candidates, part_keys=keys)

    def _with_own_topic(self, parts: list[str]) -> list[str]:
        """A clause that names no topic of its own borrows the meeting the one before it names ("党小组会多久开一次？
        谁来主持" asks who chairs the 党小组会); with no meeting to borrow ("交党费吗，交多少") it stays with it."""
        merged: list[str] = []
        for part in parts:
            named = any(self._index.words.names_topic(w) for w in self._analyzer.analyze(part).words)
            if not merged or named:
                merged.append(part)
            elif kind := first_kind_name(merged[-1]):
                merged.append(f"{kind}{part}")
            else:
                merged[-1] = f"{merged[-1]}，{part}"
        return merged

    def _resolve_part(self, text: str, scope: int | None) -> _Resolved:
        calculation = calculate(text)
        if calculation is not None:
            return _Resolved(text, True, score=1.0, calculation=calculation)
        return self._resolve(text, scope)

    def _has_domain_term(self, resolved: _Resolved) -> bool:
        return resolved.terms is not None and any(self._analyzer.is_domain_term(w) for w in resolved.terms.words)

    def _overview(self, question: str, parts: list[tuple[str, str]], scope: int | None) -> Answer | None:
        resolved = [(kind, self._resolve(asked, scope)) for kind, asked in parts]
        found = [(kind, r) for kind, r in resolved if r.found]
        if len(found) < 2:
            return None
        lines = [OVERVIEW_INTRO]
        for kind, r in found:
            passage = r.passages[0]
            lines.append(OVERVIEW_LINE.format(kind=kind, fact=_first_sentence(passage.text), basis=_basis(passage)))
        lines += [f"· {kind}：没有找到可靠的答案，请单独再问。" for kind, r in resolved if not r.found]
        first = found[0][1].passages[0]
        candidates = _candidates([r.hits[0] for _, r in found])
        keys = tuple(r.passages[0].key for _, r in found)
        score = min(r.score for _, r in found)
        return Answer(question, True, "\n".join(lines), score, _source(first), candidates, part_keys=keys)

    def _passage_text(self, passage: Passage, terms: Terms | None) -> str:
        if passage.document is None or terms is None:
            return _answer_text(passage)
        return _excerpt(passage.text, terms)


def _reliable(hit: Hit) -> bool:
    """Confident enough to quote. Both rankers agreeing is strong evidence; a passage only one puts first must
    hold more of the question."""
    if not hit.topical:
        return False
    if hit.agreed:
        floor = MIN_COVERAGE_WITH_DOMAIN_TERM if hit.domain else MIN_COVERAGE
        return hit.coverage >= floor and hit.confidence >= MIN_CONFIDENCE
    return hit.coverage >= MIN_COVERAGE_ALONE and hit.confidence >= MIN_CONFIDENCE_ALONE


def _answer_text(passage: Passage) -> str:
    parts = [passage.text]
    if passage.local_practice:
        parts.append(LOCAL_PRACTICE_NOTE)
    if passage.basis:
        parts.append(BASIS_LINE.format(basis=passage.basis))
    return "\n\n".join(parts)


def _excerpt(text: str, terms: Terms) -> str:
    """A long document passage, cut to the sentences that share most with the question (in document order)."""
    if len(text) <= EXCERPT_CHARS:
        return text
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    asked = set(terms.bigrams) | set(terms.words)

    def overlap(sentence: str) -> int:
        return sum(1 for gram in asked if gram in sentence)

    ranked = sorted(range(len(sentences)), key=lambda i: overlap(sentences[i]), reverse=True)
    chosen: list[int] = []
    for index in ranked:
        if chosen and sum(len(sentences[i]) for i in chosen) + len(sentences[index]) > EXCERPT_CHARS:
            break
        chosen.append(index)
    chosen.sort()
    pieces = [] if chosen[0] == 0 else [EXCERPT_GAP]
    for position, index in enumerate(chosen):
        if position and index != chosen[position - 1] + 1:
            pieces.append(EXCERPT_GAP)
        pieces.append(sentences[index].strip())
    if chosen[-1] != len(sentences) - 1:
        pieces.append(EXCERPT_GAP)
    return "".join(pieces)


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=。)", text.strip(), maxsplit=1)[0]
    return sentence.rstrip("。")


def _basis(passage: Passage) -> str:
    return passage.basis or passage.title


def _source(passage: Passage) -> Source:
    return Source(passage.title, passage.section)


def _source_text(passage: Passage) -> str:
    title = passage.title if passage.title.startswith("《") else f"《{passage.title}》"
    return f"{title} {passage.section}".strip()


def _document_label(passage: Passage) -> str:
    return f"《{passage.title}》 {passage.section}".strip()


def _candidate(hit: Hit) -> Candidate:
    p = hit.passage
    return Candidate(p.key, p.title, p.section, p.topic, hit.score)


def _merged_by_coverage(ranked: list[list[Hit]]) -> list[Hit]:
    """One list of several ranked lists, each keeping its order: at every step the head that covers most of the
    question (of equals, the earlier list's: the curated entries come first)."""
    heads = [list(hits) for hits in ranked if hits]
    merged: list[Hit] = []
    while heads:
        best = max(heads, key=lambda hits: round(hits[0].coverage, 2))
        merged.append(best.pop(0))
        heads = [hits for hits in heads if hits]
    return merged


def _candidates(hits: Iterable[Hit]) -> list[Candidate]:
    """Distinct passages, first occurrence kept, in the order given."""
    seen: dict[str, Candidate] = {}
    for hit in hits:
        seen.setdefault(hit.passage.key, _candidate(hit))
    return list(seen.values())
