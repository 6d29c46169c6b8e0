"""Cut text into matching terms: normalise, repair typos, segment with jieba, fold synonyms to canonical terms.

Documents and questions go through the same steps, so whatever a question calls a thing, it meets the document's
word for it. The jieba tokenizer is private to this module and loaded once.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jieba
from pypinyin import lazy_pinyin

from knowledge import lexicon
from knowledge.normalize import normalize_for_match
from knowledge.vocabulary import document_words

# jieba's dictionary has 349,046 words; loading them all costs ~0.6 s of every cold start. Words seen fewer than
# five times in its corpus (213,000 of them) changed no answer on the development set, so they are left out.
DICTIONARY_MIN_FREQUENCY = 5

_WORDISH = re.compile(r"[0-9a-z\u3400-\u9fff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_LONG_ASCII = re.compile(r"([0-9a-z]{64,})")


@dataclass(frozen=True, slots=True)
class Terms:
    """The matching view of a text: canonical words, CJK character bigrams, and the normalised text."""

    words: tuple[str, ...]
    bigrams: tuple[str, ...]
    normalized: str


class Analyzer:
    """Owns the jieba tokenizer with the domain dictionary; build once, then share (read-only)."""

    def __init__(self) -> None:
        jieba.setLogLevel(logging.WARNING)
        dictionary = trimmed_dictionary()
        self._tokenizer = jieba.Tokenizer(str(dictionary))
        self._nouns = dictionary_nouns()
        self._tokenizer.initialize()
        for term in sorted(lexicon.all_terms()):
            self._tokenizer.suggest_freq(term, tune=True)  # a frequency that keeps the term whole (PITFALLS)
        self._canonical = lexicon.canonical_map()
        self._domain_terms = frozenset(lexicon.SYNONYMS)
        self._terms = frozenset(self._canonical.values())  # the domain terms and the uncovered topics
        self._max_information = math.log(self._tokenizer.total)
        self._by_sound = self._sound_table()
        self._max_sound_len = max((len(t) for t in self._by_sound.values()), default=0)
        self._own_words: frozenset[str] = frozenset()  # a document's own words (with_document_words)
        self._own_word_pattern: re.Pattern[str] | None = None
        self.analyze("支委会")  # pays pypinyin's and jieba's lazy loading now, not on the first question

    def _sound_table(self) -> dict[str, str]:
        """Pinyin of each longer domain term -> the term, to repair homophone typos such as 知委会."""
        table: dict[str, str] = {}
        for term, canonical in self._canonical.items():
            if (
                canonical in self._domain_terms
                and lexicon.PINYIN_MIN_CHARS <= len(term) <= lexicon.PINYIN_MAX_CHARS
                and term.isalnum()
            ):
                table.setdefault(" ".join(lazy_pinyin(term)), term)
        return table

    def repair(self, normalized: str) -> str:
        """Replace known typos, then any CJK stretch that sounds exactly like a domain term."""
        for typo, right in lexicon.TYPOS.items():
            normalized = normalized.replace(typo, right)
        return _CJK_RUN.sub(self._repair_run, normalized)

    def _repair_run(self, match: re.Match[str]) -> str:
        run = match.group(0)
        if len(run) < lexicon.PINYIN_MIN_CHARS:
            return run
        sounds = lazy_pinyin(run)
        out: list[str] = []
        i = 0
        while i < len(run):
            term = self._sound_alike_at(run, sounds, i)
            out.append(term or run[i])
            i += len(term) if term else 1
        return "".join(out)

    def _sound_alike_at(self, run: str, sounds: list[str], start: int) -> str | None:
        """The longest domain term that sounds like the text at ``start`` and is a plausible typo of it."""
        for size in range(min(self._max_sound_len, len(run) - start), lexicon.PINYIN_MIN_CHARS - 1, -1):
            chunk = run[start : start + size]
            if chunk in self._canonical:
                return None
            term = self._by_sound.get(" ".join(sounds[start : start + size]))
            if term is not None and not self._starts_real_word(run, start, term) and not _a_verb(run, start, term):
                return term
        return None

    def _starts_real_word(self, run: str, start: int, term: str) -> bool:
        """True when the last changed character begins a dictionary word reaching past the term.

        "支委会一个月" sounds like "支委会议…", but "一个月" is a word: the text is right as written.
        """
        end = start + len(term)
        changed = max(j for j in range(len(term)) if run[start + j] != term[j]) + start
        freq = self._tokenizer.FREQ
        return any(freq.get(run[changed:k]) for k in range(end + 1, min(len(run), changed + 6) + 1))

    def analyze(self, text: str, *, repair: bool = True) -> Terms:
        """``repair`` fixes typos; questions need it, curated and uploaded documents are taken as written."""
        normalized = normalize_for_match(text)
        if repair:
            normalized = self.repair(normalized)
        words: list[str] = []
        for token in self._cut(normalized):
            token = token.strip()
            if not token or token in lexicon.STOPWORDS or not _WORDISH.search(token):
                continue
            words.append(self._canonical.get(token, token))
        bigrams = [run[i : i + 2] for run in _CJK_RUN.findall(normalized) for i in range(len(run) - 1)]
        return Terms(tuple(words), tuple(bigrams), normalized)

    def with_document_words(self, normalized_texts: Iterable[str]) -> Analyzer:
        """A view of this analyzer that keeps a document's own words whole (knowledge.vocabulary); shares the rest.

        The shared tokenizer itself never changes: a word one branch's upload brings ("政治生日") must not change
        how the curated entries, another branch's documents or later questions are cut. The view cuts only the
        text around the document's words instead, for the document's passages and for questions put to it.
        """
        words = document_words(normalized_texts, self._tokenizer.FREQ, self._tokenizer.lcut)
        view = copy.copy(self)
        view._own_words = frozenset(words)
        if words:  # the longest first: an alternation takes the first that matches
            view._own_word_pattern = re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True))))
        return view

    @property
    def own_words(self) -> frozenset[str]:
        return self._own_words

    def cuts_differently(self, normalized: str) -> bool:
        """Whether the text holds one of the document's own words, so that this view cuts it differently."""
        return self._own_word_pattern is not None and self._own_word_pattern.search(normalized) is not None

    def _cut(self, normalized: str) -> list[str]:
        """jieba's words, the document's own words kept whole wherever they occur."""
        if self._own_word_pattern is None:
            return self._lcut(normalized)
        tokens: list[str] = []
        start = 0
        for match in self._own_word_pattern.finditer(normalized):
            tokens += self._lcut(normalized[start : match.start()])
            tokens.append(match.group(0))
            start = match.end()
        return tokens + self._lcut(normalized[start:])

    def _lcut(self, normalized: str) -> list[str]:
        """jieba's words; a long run of letters and digits is one token, as jieba would make it, without jieba
        walking its dictionary graph one character at a time (a pasted megabyte of it took seconds)."""
        if _LONG_ASCII.search(normalized) is None:
            return self._tokenizer.lcut(normalized)
        tokens: list[str] = []
        for piece in _LONG_ASCII.split(normalized):
            if _LONG_ASCII.fullmatch(piece):
                tokens.append(piece)
            elif piece:
                tokens += self._tokenizer.lcut(piece)
        return tokens

    def is_noun(self, word: str) -> bool:
        """A noun by jieba's dictionary tags, a domain term or an uncovered topic; unknown words are not."""
        return word in self._terms or word in self._nouns

    def knows(self, word: str) -> bool:
        """A dictionary word (jieba's, the domain's or the document's own), not one jieba guessed."""
        return bool(self._tokenizer.FREQ.get(word)) or word in self._canonical or word in self._own_words

    def is_domain_term(self, word: str) -> bool:
        return word in self._domain_terms

    def informativeness(self, word: str) -> float:
        """How much a word says about a topic, from its rarity in general Chinese (jieba's word counts).

        "还是" or "需要" are everywhere and say little; "党龄" is rare and says much; domain terms and the topics the
        knowledge does not cover ("工会", "八项规定") say the most.
        """
        if word in self._terms:
            return self._max_information
        count = self._tokenizer.FREQ.get(word) or 0
        return min(math.log(self._tokenizer.total / (count + 1)), self._max_information)

    def ambiguous_readings(self, normalized: str) -> tuple[str, tuple[str, ...]] | None:
        """The ambiguous phrase in a question and its readings, if it has one."""
        for phrase, readings in lexicon.AMBIGUOUS.items():
            if phrase in normalized:
                return phrase, readings
        return None


def _a_verb(run: str, start: int, term: str) -> bool:
    """The last character differs from the term's, is a verb of its own ("回"), and the text goes on as with a
    verb ("回村", "回原单位"), not as a question about the term ("回多久开一次")."""
    end = start + len(term)
    return (
        end < len(run)
        and run[end - 1] != term[-1]
        and run[end - 1] in lexicon.VERBS_NOT_TYPOS
        and run[end] not in lexicon.QUESTION_CONTINUATIONS
    )


def trimmed_dictionary() -> Path:
    """jieba's dictionary without its rarest words, derived once from the installed jieba into a cache directory.

    jieba then keeps its own parsed cache of this file, so later starts load only the smaller table.
    """
    return _derived(
        f"jieba-{jieba.__version__}-min{DICTIONARY_MIN_FREQUENCY}.txt",
        lambda lines: (line for line in lines if int(line.split(" ")[1]) >= DICTIONARY_MIN_FREQUENCY),
    )


NOUN_TAGS = ("n", "vn")  # jieba's tags for nouns (n, nr, ns, nt, nz …) and verbal nouns (活动, 旅游)


def dictionary_nouns() -> frozenset[str]:
    """The words of the trimmed dictionary that jieba tags as nouns (from a derived one-word-a-line file)."""

    def nouns(lines: Iterable[str]) -> Iterator[str]:
        for line in lines:
            word, count, tag = line.split(" ")
            if int(count) >= DICTIONARY_MIN_FREQUENCY and tag.startswith(NOUN_TAGS):
                yield word + "\n"

    path = _derived(f"jieba-{jieba.__version__}-min{DICTIONARY_MIN_FREQUENCY}-nouns.txt", nouns)
    if path.name == jieba.DEFAULT_DICT_NAME:  # no cache directory could be written: derive in memory
        with path.open(encoding="utf-8") as lines:
            return frozenset(word.strip() for word in nouns(lines))
    return frozenset(path.read_text(encoding="utf-8").split())


def _derived(name: str, derive: Callable[[Iterable[str]], Iterable[str]]) -> Path:
    """A file derived once from jieba's dictionary into a cache directory (atomically; the source if none works)."""
    source = Path(jieba.__file__).with_name(jieba.DEFAULT_DICT_NAME)
    for folder in (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "partybot",
        Path(tempfile.gettempdir()),
    ):
        target = folder / name
        if target.exists():
            return target
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with (
                tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, delete=False) as out,
                source.open(encoding="utf-8") as words,
            ):
                out.writelines(derive(words))
            os.replace(out.name, target)  # atomic: a concurrent start sees the old state or the whole file
            return target
        except OSError:
            continue
    return source


@cache
def shared_analyzer() -> Analyzer:
    return Analyzer()
