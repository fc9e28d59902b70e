"""Flags: the items moderators triage."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, text_enum, utcnow


class FlagKind(enum.StrEnum):
    # Members' challenges.
    WRONG_INFO = "wrong_info"
    LEFT_COMPANY = "left_company"
    DUPLICATE = "duplicate"
    PERSONAL_DATA = "personal_data"
    # Raised at entry.
    DOMAIN_MISMATCH = "domain_mismatch"
    POSSIBLE_DUPLICATE = "possible_duplicate"
    # A member's update that would hold the contact: the values wait in
    # ``Flag.proposal`` and the contact stays as it was.
    PROPOSED_CHANGE = "proposed_change"
    # A customer says a list row was matched to the wrong person.
    LIST_MISMATCH = "list_mismatch"
    # Found by the nightly quality sweep (portal.moderation.sweep).
    NEAR_DUPLICATE = "near_duplicate"
    CONTRIBUTION_BURST = "contribution_burst"
    ROSTER_RUN = "roster_run"
    HIGH_UPHELD_RATE = "high_upheld_rate"
    DOMAIN_MISMATCHES = "domain_mismatches"

    @property
    def is_challenge(self) -> bool:
        return self in CHALLENGE_KINDS

    @property
    def about_member(self) -> bool:
        """A finding about a contributor (``Flag.member_id``), not a contact."""
        return self in MEMBER_KINDS

    @property
    def label(self) -> str:
        return FLAG_LABELS[self]


CHALLENGE_KINDS = frozenset(
    {
        FlagKind.WRONG_INFO,
        FlagKind.LEFT_COMPANY,
        FlagKind.DUPLICATE,
        FlagKind.PERSONAL_DATA,
    }
)
FLAG_LABELS = {
    FlagKind.WRONG_INFO: "Wrong information",
    FlagKind.LEFT_COMPANY: "Left the company",
    FlagKind.DUPLICATE: "Duplicate of another contact",
    FlagKind.PERSONAL_DATA: "Holds personal data",
    FlagKind.DOMAIN_MISMATCH: "Email domain does not match the company",
    FlagKind.POSSIBLE_DUPLICATE: "Contributor says: a different person",
    FlagKind.PROPOSED_CHANGE: "A member proposes a change",
    FlagKind.LIST_MISMATCH: "Customer says: not the same person",
    FlagKind.NEAR_DUPLICATE: "Sweep: likely the same person twice",
    FlagKind.CONTRIBUTION_BURST: "Sweep: a burst of contributions",
    FlagKind.ROSTER_RUN: "Sweep: contributions copied from a roster",
    FlagKind.HIGH_UPHELD_RATE: "Sweep: many contributions upheld as bad",
    FlagKind.DOMAIN_MISMATCHES: "Sweep: many email domain mismatches",
}
# Findings about a contributor rather than one contact: ``Flag.member_id``.
MEMBER_KINDS = frozenset(
    {
        FlagKind.CONTRIBUTION_BURST,
        FlagKind.ROSTER_RUN,
        FlagKind.HIGH_UPHELD_RATE,
        FlagKind.DOMAIN_MISMATCHES,
    }
)


class FlagSource(enum.StrEnum):
    """Who raised the flag: a member (a challenge or a proposed change), the
    checks at entry, a customer (list-match dispute), the person themselves,
    or the nightly quality sweep."""

    MEMBER = "member"
    ENTRY = "entry"
    CUSTOMER = "customer"
    SUBJECT = "subject"
    SWEEP = "sweep"


class FlagState(enum.StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    UPHELD = "upheld"
    DISMISSED = "dismissed"

    @property
    def resolved(self) -> bool:
        return self in (FlagState.UPHELD, FlagState.DISMISSED)

    @classmethod
    def unresolved_states(cls) -> tuple[FlagState, ...]:
        return (cls.OPEN, cls.CLAIMED)


class Flag(db.Model):
    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[FlagKind] = mapped_column(text_enum(FlagKind, "flag_kind"))
    source: Mapped[FlagSource] = mapped_column(text_enum(FlagSource, "flag_source"))
    state: Mapped[FlagState] = mapped_column(
        text_enum(FlagState, "flag_state"), default=FlagState.OPEN
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    # The revision the flag is about (whose contributor is rewarded or penalised).
    revision_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_revisions.id", ondelete="SET NULL")
    )
    # For duplicates: the other contact.
    related_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    details: Mapped[str] = mapped_column(Text, default="")
    # For a proposed change: the field values the member proposed.
    proposal: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Lower is more urgent; set per source by portal.moderation.flags.
    priority: Mapped[int] = mapped_column(Integer, default=20)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Who holds (claimed) or resolved the item.
    moderator_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A finding about a contributor (the sweep's bursts, rates): the member.
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    # What the sweep found, for the moderator (ids, scores, counts).
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Names a sweep finding: unique, so a rerun never opens it twice.
    finding_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    resolution: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    contact = relationship("Contact", foreign_keys=[contact_id])
    related_contact = relationship("Contact", foreign_keys=[related_contact_id])
    reporter = relationship("Member", foreign_keys=[reporter_id])
    moderator = relationship("Member", foreign_keys=[moderator_id])
    member = relationship("Member", foreign_keys=[member_id])

    __table_args__ = (
        Index("ix_flags_state_priority_due", "state", "priority", "due_at"),
    )
