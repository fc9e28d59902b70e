"""The search index: a vocabulary of contact fields and company names.

Written only by database triggers (migration ``0005_search_index``), so every
write path keeps it in step; read by :mod:`portal.search.services`.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db

# Words longer than this are not indexed.
MAX_WORD = 40


class SearchTerm(db.Model):
    """A distinct value of a searchable contact field (``first_name``,
    ``last_name``, ``title``, ``city``) that at least one contact holds."""

    __tablename__ = "search_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    field: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("field", "value"),)


class SearchWord(db.Model):
    """A folded word of a term (``term_id``) or of a company's name
    (``company_id``)."""

    __tablename__ = "search_words"

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(MAX_WORD))
    term_id: Mapped[int | None] = mapped_column(Integer)
    company_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_search_words_word", "word"),
        Index("ix_search_words_term_id", "term_id"),
        Index("ix_search_words_company_id", "company_id"),
    )


class SearchVariant(db.Model):
    """A word, or the word with one letter deleted: words one edit apart share
    a variant."""

    __tablename__ = "search_variants"

    variant: Mapped[str] = mapped_column(String(MAX_WORD), primary_key=True)
    word: Mapped[str] = mapped_column(String(MAX_WORD), primary_key=True)

    __table_args__ = (
        Index("ix_search_variants_word", "word"),
        {"sqlite_with_rowid": False},
    )


class SearchNumber(db.Model):
    """1 to 512: the positions SQLite's triggers split text at."""

    __tablename__ = "search_numbers"

    n: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class SearchScratch(db.Model):
    """Where SQLite's triggers fold text, a few replacements at a time; empty
    outside a trigger, unused on PostgreSQL."""

    __tablename__ = "search_scratch"

    source: Mapped[str] = mapped_column(String(1), primary_key=True)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[str] = mapped_column(Text)
    joined: Mapped[bool] = mapped_column(Boolean)
