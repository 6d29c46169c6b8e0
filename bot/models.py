"""SQLModel tables. Times are UTC (``UTCDateTime``); Telegram ids are 64-bit (``BigInteger``).

Constraint names follow one naming convention so that Alembic (and SQLite batch mode) can address them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Document(SQLModel, table=True):
    """An uploaded knowledge document (规章制度、上级通知…); its passages are searched together with curated ones."""

    __tablename__ = "document"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    filename: str = Field(max_length=255)
    # None: every branch sees it. Branch-scoped documents arrive with branches; the foreign key comes then.
    scope_branch_id: int | None = Field(default=None, index=True)
    added_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    passage_count: int = 0


class DocumentPassage(SQLModel, table=True):
    """One passage of a document, in document order; ``heading_path`` is a JSON list of headings."""

    __tablename__ = "document_passage"
    __table_args__ = (UniqueConstraint("document_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(sa_column=Column(Integer, ForeignKey("document.id", ondelete="CASCADE"), nullable=False))
    position: int
    heading_path: str = Field(default="[]", sa_type=Text)
    text: str = Field(sa_type=Text)
