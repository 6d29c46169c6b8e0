"""Uploaded documents for knowledge tests: a file's passages as `partybot kb add` stores them, without a database."""

from __future__ import annotations

from pathlib import Path

from knowledge.ingest import parse_file
from knowledge.passage import Passage


def uploaded_passages(path: Path, document: int = 1) -> list[Passage]:
    """The file parsed into passages keyed kb<document>-1, kb<document>-2 …, shared by every branch."""
    parsed = parse_file(path)
    return [
        Passage(
            key=f"kb{document}-{n}", title=parsed.title, heading_path=p.heading_path, text=p.text, document=document
        )
        for n, p in enumerate(parsed.passages, 1)
    ]
