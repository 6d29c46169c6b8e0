"""What answering returns: the machine contract of `partybot ask --json` (DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    section: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ranked passage: the answer's own passage first when found, else the nearest topics."""

    key: str
    title: str
    section: str
    topic: str
    score: float


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    found: bool
    answer: str
    score: float
    source: Source | None
    candidates: list[Candidate] = field(default_factory=list)
    # not in the JSON contract: the passage answered for each part of a composed answer (several questions, an
    # overview, a document with the general rule), whether the message was small talk (a greeting, thanks), the
    # organisation other than the Party a declined question is about (工会, 团支部 …; ``answer`` says so), and
    # whether it asked for a text to be written (``answer`` says the bot does not write them)
    part_keys: tuple[str, ...] = ()
    small_talk: bool = False
    other_body: str | None = None
    writing_request: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "found": self.found,
            "answer": self.answer,
            "score": round(self.score, 4),
            "source": None if self.source is None else {"title": self.source.title, "section": self.source.section},
            "candidates": [
                {"id": c.key, "title": c.title, "section": c.section, "topic": c.topic, "score": round(c.score, 4)}
                for c in self.candidates
            ],
        }
