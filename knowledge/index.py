"""Rank passages for a question: field-weighted BM25 with a smoothed IDF, phrasing and intent boosts.

Why not rank_bm25.BM25Okapi: on a small corpus a term found in half the passages or more gets a zero or negative
IDF, so common domain words stop counting. The IDF here (Lucene's ``ln(1 + (N - df + .5) / (df + .5))``) stays
positive. Each passage is scored over several fields (heading, listed phrasings, keywords, body, an uploaded
passage's first sentence, character bigrams); a question that closely matches one of an entry's listed
phrasings, or whose intent cues (多久, 谁 …) match the entry's intent tags, is boosted. ``coverage`` — the share
of the question's IDF mass the passage contains — is the confidence that decides whether an answer is given at
all.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from knowledge import lexicon
from knowledge.analyzer import Analyzer, Terms
from knowledge.intents import INTENT_CUES, question_intents
from knowledge.passage import Passage

# "lead" is an uploaded passage's first sentence: an article or a paragraph names its subject first ("支部党员大会一般
# 每季度召开1次"), so a passage about the question's topic outranks one that mentions it in passing ("…前向支部党员
# 大会报告工作"). Curated entries have phrasings and keywords for that.
FIELD_WEIGHTS = {"heading": 1.0, "phrasing": 1.0, "keyword": 1.5, "body": 0.3, "title": 0.4, "lead": 0.3}
# at most 100 characters: a passage with no sentence end (a pasted page, a table) leads with its first 100, and
# a megabyte upload is not cut twice
FIRST_SENTENCE = re.compile(r".{1,100}?(?:[。；;！？!?]|$)|.{1,100}", re.DOTALL)
BIGRAM_WEIGHT = 0.75
K1, B = 1.2, 0.6
INTENT_MATCH, INTENT_MISS = 1.2, 0.8
PHRASING_BOOST = 0.5  # added score multiplier at a perfect phrasing match
COVERAGE_FLOOR = 1.0
DOMAIN_MISS = 0.8  # the question names a domain term (党课, 支委会 …) the passage never mentions
RESCORED = 30  # leaders by plain BM25 that get the phrasing and intent boosts
TOPIC_MIN_WEIGHT = 4.5  # see names_topic: 支部党员大会 5.1, 支委会 5.3, 表决 6.9; 党员 1.6, 支部 2.6
MISSING_OTHER_WEIGHT = 0.3  # a missing verb or particle, against a missing noun (see _confidence)
MISSING_OTHER_CAP = 10.0  # jieba's guesses at unknown words ("就行", "能配") are not rare words
CORPUS_SPECIFICITY = 4.0  # a word in one passage of 200 keeps ~20, in half of them ~3 (see topic_weight)
UNKNOWN_TERM_IDF = 4.0  # a question word no passage contains still weighs in coverage
PARTIAL_CREDIT = 0.5  # for such a word whose every character bigram the passage does contain (a jieba mis-cut)
DOMAIN_TERMS = frozenset(lexicon.SYNONYMS)
# words that say what kind of answer is wanted but not what it is about
NON_TOPIC_WORDS = (
    frozenset(c for cues in INTENT_CUES.values() for c in cues)
    | frozenset("开 有 要 什么 多少 几 一次 哪里 为什么 吗 会 做 算 行 行不行 规定 要求 情况 问题".split())
    # nouns that frame a question rather than name its topic ("是啥意思", "多长时间", "才算数")
    | frozenset("意思 东西 程度 多长 合规 算数 硬性 规范 一回 回事 就行 人才 内容 方面 具体内容 时候 说法".split())
) - DOMAIN_TERMS


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    score: float
    coverage: float
    topical: bool  # the passage shares a topic word with the question, not only cue words such as 谁 or 多久
    domain: bool  # ... and one of those is a domain term of the lexicon (支委会, 党费 …)
    number: int = -1  # the passage's position in the index
    confidence: float = 1.0  # how fully the passage holds what the question is about (see PassageIndex._confidence)
    agreed: bool = True  # both rankers put this passage first (set by knowledge.ranking)


@dataclass(slots=True)
class _Indexed:
    passage: Passage
    fields: dict[str, Counter[str]]
    lengths: dict[str, int]
    vocabulary: frozenset[str]
    phrasing_sets: tuple[frozenset[str], ...]
    phrasing_masses: tuple[float, ...]  # each phrasing's IDF sum, set once the IDF is known
    intents: frozenset[str]
    body: str  # the passage's text in matching form


class PassageIndex:
    """An immutable index over passages; ``search`` is read-only and safe to share."""

    def __init__(self, passages: Iterable[Passage], analyzer: Analyzer) -> None:
        self._analyzer = analyzer
        self._docs = [self._index_one(p) for p in passages]
        self._postings: dict[str, list[int]] = defaultdict(list)
        self._bigram_postings: dict[str, list[int]] = defaultdict(list)
        for number, doc in enumerate(self._docs):
            for term in doc.vocabulary:
                self._postings[term].append(number)
            for bigram in doc.fields["bigram"]:
                self._bigram_postings[bigram].append(number)
        count = max(len(self._docs), 1)
        self._idf = {t: _idf(count, len(p)) for t, p in self._postings.items()}
        for doc in self._docs:
            doc.phrasing_masses = tuple(sum(self._idf.get(t, 0.0) for t in p) for p in doc.phrasing_sets)
        self._bigram_idf = {t: _idf(count, len(p)) for t, p in self._bigram_postings.items()}
        self._average = {
            name: (sum(d.lengths[name] for d in self._docs) / count) or 1.0 for name in (*FIELD_WEIGHTS, "bigram")
        }
        # each term's BM25 contribution to each passage holding it depends on nothing else: computed on the first
        # question that has the term, then only added up (a benign race: two threads compute the same list)
        self._scored: dict[str, list[tuple[int, float]]] = {}
        self._scored_bigrams: dict[str, list[tuple[int, float]]] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def _index_one(self, passage: Passage) -> _Indexed:
        def analyze(text: str) -> Terms:
            return self._analyzer.analyze(text, repair=False)

        heading = analyze(" ".join(passage.heading_path))
        body = analyze(passage.text)
        phrasings = [analyze(p) for p in passage.phrasings]
        fields: dict[str, Counter[str]] = {
            "heading": Counter(heading.words),
            "phrasing": Counter(w for p in phrasings for w in p.words),
            "keyword": Counter(w for k in passage.keywords for w in analyze(k).words),
            "body": Counter(body.words),
            "title": Counter(analyze(passage.title).words),
            "lead": Counter(_lead(passage, analyze)),
            "bigram": Counter(heading.bigrams + body.bigrams + tuple(b for p in phrasings for b in p.bigrams)),
        }
        intents = passage.intents or _intents_in_text(body.normalized)
        vocabulary = frozenset(t for name, c in fields.items() if name != "bigram" for t in c)
        return _Indexed(
            passage=passage,
            fields=fields,
            lengths={name: sum(c.values()) for name, c in fields.items()},
            vocabulary=vocabulary,
            phrasing_sets=(*(frozenset(p.words) for p in phrasings), frozenset(heading.words)),
            phrasing_masses=(),
            intents=intents,
            body=body.normalized,
        )

    def search(self, question: Terms, scope: int | None = None, limit: int = 5) -> list[Hit]:
        """The best passages by word-level BM25 with the boosts, best first."""
        return self.rescore(question, self.leaders(question, scope, RESCORED))[:limit]

    def leaders(self, question: Terms, scope: int | None, count: int) -> list[tuple[int, float]]:
        """(passage number, plain BM25 score) of the ``count`` best visible passages, before the boosts."""
        scores: dict[int, float] = defaultdict(float)
        for term in dict.fromkeys(question.words):
            for number, score in self._scored_postings(term):
                scores[number] += score
        for bigram in set(question.bigrams):
            for number, score in self._scored_bigram_postings(bigram):
                scores[number] += score
        visible = [(n, score) for n, score in scores.items() if self._docs[n].passage.scope in (None, scope)]
        return heapq.nlargest(count, visible, key=lambda item: item[1])

    def rescore(self, question: Terms, leaders: Iterable[tuple[int, float]]) -> list[Hit]:
        """Apply coverage, phrasing and intent boosts to (passage number, plain score) pairs; best first."""
        words = list(dict.fromkeys(question.words))
        if not words:
            return []
        wanted = question_intents(question.normalized)
        topic_words = [w for w in words if w not in NON_TOPIC_WORDS]
        weight = {w: self._analyzer.informativeness(w) for w in topic_words}
        specific = {w: self.topic_weight(w) for w in topic_words}
        asked_domain = any(w in DOMAIN_TERMS for w in topic_words)
        total_mass = sum(weight.values())
        question_set = frozenset(words)
        question_mass = sum(self._idf.get(t, UNKNOWN_TERM_IDF) for t in question_set)
        hits = []
        for number, score in leaders:
            doc = self._docs[number]
            matched = [w for w in topic_words if w in doc.vocabulary]
            covered = sum(weight[w] for w in matched) + sum(
                PARTIAL_CREDIT * weight[w] for w in topic_words if w not in self._idf and _bigrams_in(w, doc)
            )
            coverage = covered / total_mass if total_mass else 0.0
            confidence = self._confidence(doc, topic_words, specific)
            domain = any(w in DOMAIN_TERMS for w in matched)
            if asked_domain and not domain:
                score *= DOMAIN_MISS
            score *= COVERAGE_FLOOR + coverage  # cue words alone (谁, 主持) must not outrank the topic
            score *= 1.0 + PHRASING_BOOST * self._phrasing_similarity(doc, question_set, question_mass)
            if wanted and doc.intents:
                score *= INTENT_MATCH if wanted & doc.intents else INTENT_MISS
            hits.append(Hit(doc.passage, score, coverage, bool(matched), domain, number, confidence))
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits

    def _confidence(self, doc: _Indexed, words: list[str], weight: dict[str, float]) -> float:
        """Covered topic weight against covered plus missing, where a missing noun counts in full.

        A question about something the knowledge lacks names it with a noun no passage holds (宗教, 花圈, 公司)
        beside a party word every passage holds; a paraphrase of a known question differs mostly in verbs and
        particles (开几回, 凑够), which count only in part.
        """
        covered = missing = 0.0
        for word in words:
            if word in doc.vocabulary:
                covered += weight[word]
            elif word not in self._idf and _bigrams_in(word, doc):
                covered += PARTIAL_CREDIT * weight[word]
            else:
                noun = self._analyzer.is_noun(word)
                missing += weight[word] if noun else MISSING_OTHER_WEIGHT * min(weight[word], MISSING_OTHER_CAP)
        return covered / (covered + missing) if covered else 0.0

    def topic_weight(self, word: str) -> float:
        """How much a question word says about which passage is meant: rare in Chinese and rare in this corpus.

        "党员" is a domain term but stands in most passages, so it says little; a word no passage contains says as
        much as its rarity in general Chinese (it may be the very topic the knowledge lacks).
        """
        information = self._analyzer.informativeness(word)
        idf = self._idf.get(word)
        return information if idf is None else min(information, CORPUS_SPECIFICITY * idf)

    def vocabulary_by_frequency(self) -> list[str]:
        """Every word of the passages, the ones in most passages first."""
        return sorted(self._postings, key=lambda t: len(self._postings[t]), reverse=True)

    def names_topic(self, word: str) -> bool:
        """A word some passages hold, and few enough of them that it names what is asked (not 党员 or 要求)."""
        return (
            self._analyzer.is_noun(word)
            and word in self._idf
            and word not in NON_TOPIC_WORDS
            and self.topic_weight(word) >= TOPIC_MIN_WEIGHT
        )

    def body(self, number: int) -> str:
        """The text of the passage at ``number``, in matching form."""
        return self._docs[number].body

    def contains(self, number: int, word: str) -> bool:
        """Whether the passage at ``number`` has this (canonical) word in any field."""
        return word in self._docs[number].vocabulary

    def _scored_postings(self, term: str) -> list[tuple[int, float]]:
        return _cached(self._scored, self._postings, term, lambda n: self._term_score(self._docs[n], term))

    def _scored_bigram_postings(self, bigram: str) -> list[tuple[int, float]]:
        idf = self._bigram_idf.get(bigram, 0.0)
        return _cached(
            self._scored_bigrams,
            self._bigram_postings,
            bigram,
            lambda n: BIGRAM_WEIGHT * self._field_score(self._docs[n], "bigram", bigram, idf),
        )

    def _term_score(self, doc: _Indexed, term: str) -> float:
        idf = self._idf[term]
        return sum(
            weight * self._field_score(doc, name, term, idf)
            for name, weight in FIELD_WEIGHTS.items()
            if doc.fields[name][term]
        )

    def _field_score(self, doc: _Indexed, name: str, term: str, idf: float) -> float:
        frequency = doc.fields[name][term]
        norm = K1 * (1 - B + B * doc.lengths[name] / self._average[name])
        return idf * frequency * (K1 + 1) / (frequency + norm)

    def _phrasing_similarity(self, doc: _Indexed, question: frozenset[str], question_mass: float) -> float:
        """IDF-weighted overlap (Dice) between the question and the closest listed phrasing or heading."""
        weight = self._idf.get
        best = 0.0
        for phrasing, mass in zip(doc.phrasing_sets, doc.phrasing_masses, strict=True):
            shared = phrasing & question
            if not shared:
                continue
            size = question_mass + mass
            best = max(best, 2 * sum(weight(t, UNKNOWN_TERM_IDF) for t in shared) / size)
        return best


def _cached(
    cache: dict[str, list[tuple[int, float]]],
    postings: dict[str, list[int]],
    key: str,
    score: Callable[[int], float],
) -> list[tuple[int, float]]:
    """(passage number, score) for each passage holding ``key``, scored on first use. Only the index's own keys are
    stored, so questions cannot grow the cache."""
    scored = cache.get(key)
    if scored is None:
        if key not in postings:
            return []
        scored = cache[key] = [(number, score(number)) for number in postings[key]]
    return scored


def _lead(passage: Passage, analyze: Callable[[str], Terms]) -> tuple[str, ...]:
    """The words of an uploaded passage's first sentence (none for a curated entry)."""
    first = FIRST_SENTENCE.match(passage.text)
    return analyze(first.group(0)).words if passage.document is not None and first else ()


def _bigrams_in(word: str, doc: _Indexed) -> bool:
    pairs = [word[i : i + 2] for i in range(len(word) - 1)]
    return bool(pairs) and all(doc.fields["bigram"][pair] for pair in pairs)


def _idf(count: int, frequency: int) -> float:
    return math.log(1 + (count - frequency + 0.5) / (frequency + 0.5))


def _intents_in_text(normalized: str) -> frozenset[str]:
    """Uploaded passages carry no tags: take those whose cues appear in the text itself."""
    return frozenset(tag for tag, cues in INTENT_CUES.items() if sum(c in normalized for c in cues) >= 2)
