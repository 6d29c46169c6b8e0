"""Cut one message into the questions it asks, and spread an overview question over the things it names.

"党员大会多久开一次，表决要到多少人" asks two things; "支委会多久开一次？党小组会呢" asks the second by ellipsis;
"1. … 2. …" lists them. "三会一课分别多久开一次" and "党课、主题党日、组织生活会一年各有什么要求" ask one
thing of several meeting kinds. A clause is a question of its own only when it carries a question cue and a
topic; anything else stays with its neighbour, so "我们支部25人，开大会要到多少人" stays whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_PARTS = 4

# a question cue: what makes a clause ask something
_CUES = re.compile(
    r"多久|多长|多少|几|谁|怎么|怎样|如何|哪|什么|啥|吗|么|呢|是否|要不要|能不能|可不可以|可以|有没有|是不是|行不行|算不算"
    r"|咋|区别|要求|规定|标准|流程|程序|\?"
)
_HARD_BREAKS = re.compile(r"[？?！!；;\n]+|(?:^|\s)(?:\d{1,2}[.、．)）]|[（(]\d{1,2}[)）]|[①②③④⑤⑥⑦⑧⑨])")
_SOFT_BREAKS = re.compile(r"[，,。]|还有|另外|以及|此外|再就是|再问|顺便问")
_LEADING = re.compile(r"^(?:[\s，,。、：:]|还有|另外|以及|此外|再就是|再问|顺便问|那么|请问)+")
_ELLIPSIS = re.compile(r"^(.{1,12}?)(呢|怎么样|怎么算|如何)$")

OVERVIEW_CUES = re.compile(
    r"分别|各自|各有|各是|各要|各多|各几|各开|各需|各项|都有哪些|都有什么|都要|一年下来|各[是有要]?什么"
)
# the meeting kinds an overview can span, each with the ways a question names it (longest first)
KIND_NAMES: Mapping[str, tuple[str, ...]] = {
    "支部党员大会": ("支部党员大会", "党员大会", "支部大会"),
    "支委会": ("支部委员会会议", "支委会"),
    "党小组会": ("党小组会",),
    "党课": ("党课",),
    "主题党日": ("主题党日", "党日活动", "党日"),
    "组织生活会": ("组织生活会",),
    "民主评议党员": ("民主评议党员", "民主评议"),
    "谈心谈话": ("谈心谈话",),
}
GROUP_KINDS = {"三会一课": ("支部党员大会", "支委会", "党小组会", "党课")}
_LIST_GLUE = re.compile(r"^[、，,和与及跟还有以及]+|[、，,和与及跟还有以及]+$")


def split_question(text: str) -> list[str]:
    """The questions in a message, in order; a message asking one thing comes back as itself."""
    pieces = [p for p in _HARD_BREAKS.split(text) if p and p.strip()]
    clauses: list[str] = []
    for piece in pieces:
        clauses.extend(_split_soft(piece))
    parts = _complete_ellipses([c for c in clauses if c])
    return parts[:MAX_PARTS] if len(parts) > 1 else [text]


def _split_soft(piece: str) -> list[str]:
    """Split at commas and connectives only where every side is a question with a topic of its own."""
    spans = [s for s in (_LEADING.sub("", s).strip() for s in _SOFT_BREAKS.split(piece)) if s]
    merged: list[str] = []
    for span in spans:
        if merged and not (_asks(merged[-1]) and _asks(span)):
            merged[-1] = f"{merged[-1]}，{span}"
        else:
            merged.append(span)
    return merged


def _asks(clause: str) -> bool:
    return (len(clause) >= 3 and bool(_CUES.search(clause))) or bool(_ELLIPSIS.match(clause))


def _complete_ellipses(parts: list[str]) -> list[str]:
    """ "支委会呢" after "党员大会多久开一次" becomes "支委会多久开一次"."""
    done: list[str] = []
    for part in parts:
        match = _ELLIPSIS.match(part)
        if done and match and not _CUES.search(match.group(1)):
            previous = done[-1]
            named = first_kind_name(previous)
            done.append(previous.replace(named, match.group(1), 1) if named else f"{match.group(1)}{previous}")
        else:
            done.append(part)
    return done


def first_kind_name(text: str) -> str | None:
    """The meeting kind a question names first, as written ("党小组会", "支委会"), if any."""
    found = [(text.find(n), n) for names in KIND_NAMES.values() for n in names if n in text]
    return min(found)[1] if found else None


def overview_parts(text: str) -> list[tuple[str, str]] | None:
    """For an overview question, (meeting kind, the question asked of it) for each kind it spans; else None."""
    kinds: list[str] = []
    remainder = text
    for group, members in GROUP_KINDS.items():
        if group in remainder and OVERVIEW_CUES.search(remainder):
            kinds.extend(members)
            remainder = remainder.replace(group, " ")
    for kind, names in KIND_NAMES.items():
        for name in names:
            if name in remainder:
                if kind not in kinds:
                    kinds.append(kind)
                remainder = remainder.replace(name, " ")
    if len(kinds) < 2 or not OVERVIEW_CUES.search(text):
        return None
    asked = _LIST_GLUE.sub("", re.sub(r"\s+", "", OVERVIEW_CUES.sub("", remainder)).strip("、，,和与及"))
    asked = re.sub(r"^[、，,和与及跟]+", "", asked)
    return [(kind, f"{kind}{asked}") for kind in kinds]
