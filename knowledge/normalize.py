"""Text normalisation for matching: traditional -> simplified, full-width -> half-width, case folding.

Only the matching form is normalised; stored and quoted text stays exactly as written.
"""

from __future__ import annotations

import re
import unicodedata

import zhconv

_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u9fff]")
# spoken numerals that are a number and its measure word in one: "就俩党员", "来了仨人"
_SPOKEN_NUMBERS = str.maketrans({"俩": "两个", "仨": "三个"})


def to_simplified(text: str) -> str:
    return zhconv.convert(text, "zh-cn")


def normalize_for_match(text: str) -> str:
    """NFKC folds full-width digits and letters to ASCII; zhconv folds traditional characters; 俩 and 仨 are
    written out (两个, 三个) so that the calculators and the rankers read them as numbers."""
    text = unicodedata.normalize("NFKC", text)
    if _CJK.search(text):
        text = to_simplified(text).translate(_SPOKEN_NUMBERS)
    return _SPACES.sub(" ", text).strip().lower()


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))
