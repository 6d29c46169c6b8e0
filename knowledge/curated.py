"""Load the curated knowledge in knowledge/docs/*.md into passages.

File format (one topic area per file, written in the project's own words)::

    # 三会一课·支部党员大会                 <- document title (shown as the source title)

    ## 支部党员大会多久开一次                <- one entry; its heading is the source section
    id: dahui-frequency                      <- required, ASCII [a-z0-9-], unique across all files, <= 32 chars
    问法: 党员大会多久开一次; 支部大会一年开几次   <- optional alternative phrasings, separated by ; or ；
    关键词: 季度; 每季度                        <- optional extra matching terms
    依据: 《中国共产党支部工作条例（试行）》（2018）第十一条   <- required: the document (and article) it rests on
    层级: 中央 | 地方做法                        <- optional, default 中央; 地方做法 adds the "以上级要求为准" advice
    意图: 频率; 主体                             <- optional intent tags (see knowledge.intents)
    事实: A1; A3                                 <- optional: the rows of shared/domain-facts.md the entry states
                                                    (or a topic name for areas that table lacks), for evaluation

    Body: a few sentences in plain Chinese. Blank line between the meta lines and the body.

Meta lines use ``key: value`` with an ASCII or full-width colon and must directly follow the ``##`` heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from knowledge.passage import Passage

DOCS_DIR = Path(__file__).parent / "docs"

_META = re.compile(r"^(id|问法|关键词|依据|层级|意图|事实)\s*[:：]\s*(.*)$")
_LIST_SPLIT = re.compile(r"[;；]")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
LOCAL_PRACTICE = "地方做法"


class CuratedFormatError(ValueError):
    """A curated document does not follow the format above."""


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in _LIST_SPLIT.split(value) if part.strip())


def parse_curated(text: str, source_name: str = "<text>") -> list[Passage]:
    title = ""
    entries: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# "):
            title = line[2:].strip()
        elif line.startswith("## "):
            entries.append((line[3:].strip(), []))
        elif entries:
            entries[-1][1].append(line)
    if not title:
        raise CuratedFormatError(f"{source_name}: missing '# title' line")
    return [_parse_entry(title, heading, lines, source_name) for heading, lines in entries]


def _parse_entry(title: str, heading: str, lines: list[str], source_name: str) -> Passage:
    meta: dict[str, str] = {}
    position = 0
    while position < len(lines) and not lines[position].strip():
        position += 1
    while position < len(lines) and (match := _META.match(lines[position].strip())):
        meta[match.group(1)] = match.group(2).strip()
        position += 1
    body = "\n".join(lines[position:]).strip()
    key = meta.get("id", "")
    where = f"{source_name}: entry '{heading}'"
    if not _ID.match(key):
        raise CuratedFormatError(f"{where}: id must match {_ID.pattern}, got {key!r}")
    if not meta.get("依据"):
        raise CuratedFormatError(f"{where}: missing 依据")
    if not body:
        raise CuratedFormatError(f"{where}: empty body")
    return Passage(
        key=key,
        title=title,
        heading_path=(heading,),
        text=body,
        phrasings=_split_list(meta.get("问法", "")),
        keywords=_split_list(meta.get("关键词", "")),
        basis=meta["依据"],
        local_practice=meta.get("层级", "").strip() == LOCAL_PRACTICE,
        intents=frozenset(_split_list(meta.get("意图", ""))),
        facts=_split_list(meta.get("事实", "")),
    )


def load_curated(paths: Iterable[Path] | None = None) -> list[Passage]:
    """All curated passages, in file then entry order; ids must be unique."""
    files = sorted(paths) if paths is not None else sorted(DOCS_DIR.glob("*.md"))
    passages: list[Passage] = []
    seen: dict[str, str] = {}
    for path in files:
        for passage in parse_curated(path.read_text(encoding="utf-8"), path.name):
            if passage.key in seen:
                raise CuratedFormatError(f"{path.name}: id {passage.key!r} already used in {seen[passage.key]}")
            seen[passage.key] = path.name
            passages.append(passage)
    return passages
