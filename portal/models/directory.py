"""The directory: companies and the business contacts that work there."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, text_enum, utcnow


class ContactState(enum.StrEnum):
    ACTIVE = "active"
    # Failed a soft check at entry; visible only to moderators.
    HELD = "held"
    # A challenge is open; still visible, with a badge.
    DISPUTED = "disputed"
    # Left the company or invalid; never revealable.
    GRAVEYARD = "graveyard"

    @property
    def label(self) -> str:
        return {
            "active": "Active",
            "held": "Held for review",
            "disputed": "Disputed",
            "graveyard": "No longer there",
        }[self.value]

    # What each state allows. Queries use the ``*_states()`` lists below, so a
    # new state is decided here once, not in every query that filters on it.
    @property
    def searchable(self) -> bool:
        """Found by search and listed on company pages."""
        return self in (ContactState.ACTIVE, ContactState.DISPUTED)

    @property
    def revealable(self) -> bool:
        """Members may spend points on its email and phone."""
        return self in (ContactState.ACTIVE, ContactState.DISPUTED)

    @property
    def duplicate_checked(self) -> bool:
        """A new contribution of this person is a duplicate of it: every
        contact still at its company, held ones included, so a held contact is
        not contributed twice."""
        return self is not ContactState.GRAVEYARD

    @property
    def matchable(self) -> bool:
        """Customers' lists may be matched to it (SPEC 6: the pool of active and
        disputed contacts); a held contact is not yet data we stand behind."""
        return self in (ContactState.ACTIVE, ContactState.DISPUTED)

    @classmethod
    def searchable_states(cls) -> tuple[ContactState, ...]:
        return tuple(state for state in cls if state.searchable)

    @classmethod
    def revealable_states(cls) -> tuple[ContactState, ...]:
        return tuple(state for state in cls if state.revealable)

    @classmethod
    def duplicate_checked_states(cls) -> tuple[ContactState, ...]:
        return tuple(state for state in cls if state.duplicate_checked)

    @classmethod
    def matchable_states(cls) -> tuple[ContactState, ...]:
        return tuple(state for state in cls if state.matchable)


class Company(db.Model):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Lower case, legal suffixes and punctuation removed: what matching compares.
    normalised_name: Mapped[str] = mapped_column(String(200), index=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    industry: Mapped[str | None] = mapped_column(String(80))
    size_band: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    aliases: Mapped[list[CompanyDomain]] = relationship(
        back_populates="company", cascade="all, delete-orphan"
    )


class CompanyDomain(db.Model):
    """Another domain a company's business email may use (``acme.co.uk``)."""

    __tablename__ = "company_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(253), unique=True)

    company: Mapped[Company] = relationship(back_populates="aliases")


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    seniority: Mapped[str | None] = mapped_column(String(20))
    department: Mapped[str | None] = mapped_column(String(40))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # E.164, business lines only.
    phone: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    state: Mapped[ContactState] = mapped_column(
        text_enum(ContactState, "contact_state"), default=ContactState.ACTIVE
    )
    # The member who currently earns royalties on it; None: the pool.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    # For a graveyard contact: the person's new record, if known.
    successor_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    last_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    company: Mapped[Company] = relationship()

    __table_args__ = (
        Index("ix_contacts_state_company", "state", "company_id"),
        # Search (portal.search): matching names, titles and cities, and the
        # freshest first (PostgreSQL needs NULLS LAST in the index to use it).
        Index("ix_contacts_last_first", "last_name", "first_name"),
        Index("ix_contacts_first_name", "first_name"),
        Index("ix_contacts_title", "title"),
        Index("ix_contacts_city", "city"),
        # The list matcher looks rows up by phone (portal.matching.batch).
        Index("ix_contacts_phone", "phone"),
        Index(
            "ix_contacts_last_confirmed_at",
            "last_confirmed_at",
            postgresql_ops={"last_confirmed_at": "DESC NULLS LAST"},
        ),
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"
