"""New words of an uploaded document, found in the document itself, so that jieba keeps them whole.

A speech names its own programmes and slogans (“红帆工程”, 头雁领航, 村民说事日) that no dictionary holds; cut
into characters they match everything and nothing. Two cues find them without any outside data: a short phrase
set in quotation marks, and a character sequence that recurs and is always the same whole (the characters around
it vary, so it is not part of a longer phrase) and that jieba would cut into pieces.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping

MIN_CHARS, MAX_CHARS = 2, 8
MIN_REPEATS = 3
MAX_GRAM = 6
MAX_NEIGHBOUR_SHARE = 0.5
MAX_WORDS = 200  # per document: a bound on what one upload can add to the shared dictionary

_QUOTED = re.compile(r"[“\"「『‘]([\u3400-\u9fff0-9a-z]{2,8})[”\"」』’]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]{3,}")
# characters a word rarely starts or ends with; sequences edged by them are phrases, not words
_EDGE_CHARS = frozenset("的了和是在要把对与及等也都就为有个一中上下不将并或从以于其这那每各由向让到被所而")


def document_words(
    normalized_texts: Iterable[str], known: Mapping[str, int], cut: Callable[[str], list[str]]
) -> list[str]:
    """Words of the document that ``known`` (the dictionary's word counts) lacks and ``cut`` breaks apart."""
    texts = list(normalized_texts)
    quoted = Counter(m for text in texts for m in _QUOTED.findall(text) if not known.get(m))
    grams: Counter[str] = Counter()
    left: dict[str, Counter[str]] = defaultdict(Counter)
    right: dict[str, Counter[str]] = defaultdict(Counter)
    for text in texts:
        for run in _CJK_RUN.findall(text):
            for size in range(3, min(MAX_GRAM, len(run)) + 1):
                for i in range(len(run) - size + 1):
                    gram = run[i : i + size]
                    grams[gram] += 1
                    # a run's edge is punctuation or a space: a fresh, distinct neighbour every time
                    left[gram][run[i - 1] if i else f"^{len(grams)}"] += 1
                    right[gram][run[i + size] if i + size < len(run) else f"${len(grams)}"] += 1
    chosen = Counter(quoted)
    for gram, count in grams.items():
        if (
            count >= MIN_REPEATS
            and not known.get(gram)
            and gram[0] not in _EDGE_CHARS
            and gram[-1] not in _EDGE_CHARS
            and _varied(left[gram], count)
            and _varied(right[gram], count)
            and _new_word(gram, left[gram], right[gram], known, cut)
        ):
            chosen[gram] = max(chosen[gram], count)
    return [w for w, _ in chosen.most_common(MAX_WORDS) if MIN_CHARS <= len(w) <= MAX_CHARS]


def _new_word(
    gram: str, left: Counter[str], right: Counter[str], known: Mapping[str, int], cut: Callable[[str], list[str]]
) -> bool:
    """jieba breaks the sequence into characters, but not into one known word and a character ("本支部", "开一次"),
    and in most of its occurrences no dictionary word reaches into it from either side: "员每年" is the end of
    党员, 委员 and 成员, then 每年."""
    pieces = cut(gram)
    if all(len(piece) > 1 for piece in pieces) or max(map(len, pieces)) >= len(gram) - 1:
        return False
    count = sum(left.values())
    reached_from_left = sum(n for c, n in left.items() if known.get(c + gram[0]) or known.get(c + gram[:2]))
    reached_from_right = sum(n for c, n in right.items() if known.get(gram[-1] + c) or known.get(gram[-2:] + c))
    return max(reached_from_left, reached_from_right) <= MAX_NEIGHBOUR_SHARE * count


def _varied(neighbours: Counter[str], count: int) -> bool:
    """No single character follows (or precedes) the sequence in most of its occurrences."""
    return neighbours.most_common(1)[0][1] <= MAX_NEIGHBOUR_SHARE * count
