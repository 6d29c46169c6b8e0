"""The unit of knowledge: one passage with its document title and heading path."""

from __future__ import annotations

from dataclasses import dataclass, field

SECTION_SEPARATOR = " › "


@dataclass(frozen=True, slots=True)
class Passage:
    """A searchable piece of text and where it came from.

    ``key`` is stable and ASCII (curated entry id, or ``kb<doc>-<n>`` for uploaded documents) so it can travel in
    callback data. ``document`` groups an uploaded document's passages, which are judged against each other.
    ``scope`` is ``None`` for knowledge every branch sees, else the id of the branch that owns it.
    """

    key: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    phrasings: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    basis: str = ""
    local_practice: bool = False
    intents: frozenset[str] = field(default_factory=frozenset)
    facts: tuple[str, ...] = ()
    scope: int | None = None
    document: int | None = None  # the stored document an uploaded passage belongs to; None for curated entries

    @property
    def section(self) -> str:
        return SECTION_SEPARATOR.join(self.heading_path)

    @property
    def topic(self) -> str:
        """Short label for a "related question" button: the last heading."""
        return self.heading_path[-1] if self.heading_path else self.title
