"""What a moderator reads before deciding: a contact now against what was
proposed, the contributor's record, the reporter's past reports, and which
item comes next. Reads only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portal import ledger
from portal.contacts.services import PROVENANCE_FIELDS, field_value
from portal.models import (
    Contact,
    Flag,
    FlagState,
    Member,
    Revision,
    RevisionKind,
)
from portal.points import services as points


@dataclass(frozen=True)
class FieldChange:
    name: str
    now: Any
    proposed: Any

    @property
    def changed(self) -> bool:
        return self.proposed is not None and self.proposed != self.now


def field_diff(
    contact: Contact, proposal: Mapping[str, Any] | None
) -> list[FieldChange]:
    """Every contact field with its value now and the proposed one (None
    where nothing was proposed), in reading order."""
    proposal = proposal or {}
    return [
        FieldChange(name, field_value(contact, name), proposal.get(name))
        for name in PROVENANCE_FIELDS
    ]


@dataclass(frozen=True)
class ContributorHistory:
    member: Member
    contributions: int
    upheld: int
    rating: float | None
    tier: points.Tier
    vested: int
    pending: int

    @property
    def upheld_rate(self) -> float | None:
        return self.upheld / self.contributions if self.contributions else None


def contributor_history(
    session: Session, member_id: int, rules: points.Rules, now: datetime
) -> ContributorHistory | None:
    """The contributor's record: contributions ever, how many were upheld as
    bad, rating and tier, balance."""
    member = session.get(Member, member_id)
    if member is None:
        return None
    contributed = select(Revision.id).where(
        Revision.member_id == member_id, Revision.kind == RevisionKind.CONTRIBUTION
    )
    contributions = session.scalar(
        select(func.count()).select_from(contributed.subquery())
    )
    upheld = session.scalar(
        select(func.count(func.distinct(Flag.revision_id))).where(
            Flag.revision_id.in_(contributed), Flag.state == FlagState.UPHELD
        )
    )
    balance = ledger.balance(session, member_id)
    return ContributorHistory(
        member=member,
        contributions=contributions,
        upheld=upheld,
        rating=points.contributor_rating(session, member_id, rules, now),
        tier=points.member_tier(session, member_id, rules, now),
        vested=balance.vested,
        pending=balance.pending,
    )


def next_item(session: Session, moderator_id: int, after_id: int) -> int | None:
    """The most urgent unresolved item other than ``after_id`` that nobody
    else holds."""
    return session.scalar(
        select(Flag.id)
        .where(
            Flag.state.in_(FlagState.unresolved_states()),
            Flag.id != after_id,
            or_(Flag.moderator_id.is_(None), Flag.moderator_id == moderator_id),
        )
        .order_by(Flag.priority, Flag.due_at, Flag.id)
        .limit(1)
    )


def reports_by(session: Session, member_id: int, limit: int = 20) -> list[Flag]:
    """The member's latest reports (challenges, proposals) and their outcome,
    for their points page."""
    return list(
        session.scalars(
            select(Flag)
            .where(Flag.reporter_id == member_id)
            .order_by(Flag.id.desc())
            .limit(limit)
        )
    )
