"""The labelled question sets and how a system's answers are scored against them (bench/qa.py and the tests).

Sets (tests/data/, JSON lines):
- ``dev/``: the development set the ranker was tuned on; ``expect`` is an entry id, a list of ids, ``null``
  (off-topic) or a calculator label; ``dev/multipart.jsonl`` has several questions a message, as the blind one.
- ``blind/rules.jsonl``: held-out rule questions; ``facts`` are rows of shared/domain-facts.md, matched against the
  ``事实:`` tags of the entry answered.
- ``blind/multipart.jsonl``: several questions in one message; one list of acceptable facts per part.
- ``blind/new_topics.jsonl``: held-out questions on topics domain-facts.md lacks; ``topic`` is matched the same way.
- ``blind/out_of_kb.jsonl``: party questions the knowledge does not cover; the right outcome is no answer.
- ``documents/*.txt`` with ``*_questions.jsonl``: a document uploaded as-is and questions about it; ``answer_has``
  is a substring of the sentence that answers, or ``null`` when the document does not answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.answer_types import Answer

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
DEV_DIR = DATA / "dev"
BLIND_DIR = DATA / "blind"
DOCUMENTS_DIR = DATA / "documents"
DOCUMENTS = ("speech", "rules")

_SPACE = re.compile(r"\s+")


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_dev() -> list[dict]:
    """The single-question development rows (dev/multipart.jsonl has parts instead of ``expect``)."""
    return [row for path in sorted(DEV_DIR.glob("*.jsonl")) for row in load_jsonl(path) if "expect" in row]


def squash(text: str) -> str:
    """Whitespace-free text, so that an expected phrase matches across line breaks and padding."""
    return _SPACE.sub("", text)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a system said, reduced to what scoring needs."""

    found: bool
    keys: tuple[str, ...]  # ranked passage keys; when found, the first is the one answered (parts: one each)
    text: str = ""
    calculated: bool = False  # a calculator answered (no passage)
    parts: tuple[str, ...] = ()  # the passage answered for each part of a multi-part question


def reply_of(answer: Answer) -> Reply:
    """partybot's Answer as scoring sees it."""
    keys = tuple(c.key for c in answer.candidates)
    return Reply(answer.found, keys, answer.answer, answer.found and not keys, tuple(answer.part_keys))


@dataclass(slots=True)
class Score:
    name: str
    right: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.right / self.total if self.total else 0.0

    def add(self, ok: bool, question: str) -> None:
        self.total += 1
        self.right += ok
        if not ok:
            self.misses.append(question)


def facts_right(reply: Reply, expected: Iterable[str], facts_of: Callable[[str], tuple[str, ...]]) -> bool:
    """Found, and the passage answered states one of the expected facts (or a calculator answered)."""
    if not reply.found:
        return False
    if reply.calculated:
        return True
    return bool(reply.keys) and bool(set(facts_of(reply.keys[0])) & set(expected))


# rows of domain-facts.md that belong to a topic of new_topics.jsonl: an entry stating one of them answers it
TOPIC_FACTS = {
    "develop": tuple(f"I{n}" for n in range(1, 19)),
    "archive": ("I16",),
    "first-topic": ("A10",),
}


def score_facts(name: str, rows: list[dict], ask: Callable[[str], Reply], facts_of, label: str = "facts") -> Score:
    score = Score(name)
    for row in rows:
        expected = row[label] if isinstance(row[label], list) else [row[label]]
        if label == "topic":
            expected = [*expected, *(fact for topic in expected for fact in TOPIC_FACTS.get(topic, ()))]
        score.add(facts_right(ask(row["q"]), expected, facts_of), row["q"])
    return score


def score_declines(name: str, rows: list[dict], ask: Callable[[str], Reply]) -> Score:
    """Right when the system does not answer confidently."""
    score = Score(name)
    for row in rows:
        score.add(not ask(row["q"]).found, row["q"])
    return score


# rows of domain-facts.md a calculator's worked answer states (part keys "calc:votes", "calc:dues")
CALCULATOR_FACTS = {
    "calc:votes": ("A3", "A4", "D3", "E4", "F12", "F13", "I11"),
    "calc:dues": ("G1", "G2", "G4", "G5"),
}


def score_parts(name: str, rows: list[dict], ask: Callable[[str], Reply], facts_of) -> Score:
    """Per part: right when some part of the reply answers it with one of its facts (order not required)."""
    score = Score(name)
    for row in rows:
        reply = ask(row["q"])
        answered = reply.parts or (reply.keys[:1] if reply.found else ())
        stated = {fact for key in answered for fact in (*facts_of(key), *CALCULATOR_FACTS.get(key, ()))}
        for number, expected in enumerate(row["parts"], 1):
            score.add(reply.found and bool(stated & set(expected)), f"{row['q']} [part {number}]")
    return score


def score_dev(name: str, rows: list[dict], ask: Callable[[str], Reply]) -> tuple[Score, Score]:
    """Top-1 on on-topic development questions, and rejection of the off-topic ones."""
    top1, rejected = Score(name), Score(f"{name} off-topic")
    for row in rows:
        expect = row["expect"]
        reply = ask(row["q"])
        if expect is None:
            rejected.add(not reply.found, row["q"])
            continue
        expected = set(expect) if isinstance(expect, list) else {expect}
        top1.add(reply.found and bool(reply.keys) and reply.keys[0] in expected, row["q"])
    return top1, rejected


def available_documents() -> list[str]:
    return [name for name in DOCUMENTS if (DOCUMENTS_DIR / f"{name}_questions.jsonl").exists()]


def document_rows(name: str, folder: Path = DOCUMENTS_DIR) -> tuple[Path, list[dict]]:
    return folder / f"{name}.txt", load_jsonl(folder / f"{name}_questions.jsonl")


def score_document(
    name: str, rows: list[dict], ask: Callable[[str], Reply], passage_text: Callable[[str], str]
) -> tuple[Score, Score]:
    """Answerable questions: found, and the passage answered holds the expected phrase. Others: declined."""
    answered, declined = Score(name), Score(f"{name} declines")
    for row in rows:
        reply = ask(row["q"])
        if row["answer_has"] is None:
            declined.add(not reply.found or not reply.keys or not passage_text(reply.keys[0]), row["q"])
            continue
        holds = bool(reply.keys) and squash(row["answer_has"]) in squash(passage_text(reply.keys[0]))
        answered.add(reply.found and holds, row["q"])
    return answered, declined
