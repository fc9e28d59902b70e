"""Pooling: whether an organisation's files may improve the shared pool.

Off by default. An organisation admin opts in (or out) with the wording below
shown to them; each choice is kept as a ``PoolingConsent`` (who, when, what
they read). Unless the organisation is opted in, nothing from its files
becomes a proposal, so nothing of it can reach the pool. When opted in, each
matched row whose values differ from ours becomes a proposed change for the
moderators (a ``proposed_change`` flag of source ``customer``, the contact
unchanged until a moderator decides); people on the suppression list are
never proposed. Services only: they flush.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.matching.batch import FieldStatus, MatchStatus
from portal.models import (
    Contact,
    Flag,
    FlagKind,
    FlagSource,
    MatchList,
    MatchListRow,
    Member,
    Organisation,
    PoolingConsent,
)
from portal.moderation.flags import FlagRules, open_flag
from portal.suppression import is_suppressed

POOLING_WORDING = (
    "Our organisation agrees that where a list we send holds a business contact's "
    "email, phone, title, city or country that differs from Tessera's, the value "
    "may be proposed to Tessera's moderators as an update to the shared pool, "
    "credited to our organisation. Nothing else from our files is shared, and we "
    "can withdraw this at any time for future lists."
)


def set_pooling(
    session: Session,
    organisation: Organisation,
    *,
    opted_in: bool,
    member: Member,
    now: datetime,
) -> PoolingConsent:
    """Record an admin's choice (with the wording shown) and apply it."""
    consent = PoolingConsent(
        organisation_id=organisation.id,
        member_id=member.id,
        opted_in=opted_in,
        wording=POOLING_WORDING,
        created_at=now,
    )
    session.add(consent)
    organisation.pooling_opt_in = opted_in
    session.flush()
    return consent


def latest_consent(session: Session, organisation_id: int) -> PoolingConsent | None:
    return session.scalar(
        select(PoolingConsent)
        .where(PoolingConsent.organisation_id == organisation_id)
        .order_by(PoolingConsent.id.desc())
        .limit(1)
    )


def _already_proposed(session: Session, contact_id: int, proposal: dict) -> bool:
    flags = session.scalars(
        select(Flag).where(
            Flag.contact_id == contact_id,
            Flag.kind == FlagKind.PROPOSED_CHANGE,
            Flag.source == FlagSource.CUSTOMER,
            Flag.resolved_at.is_(None),
        )
    )
    return any(flag.proposal == proposal for flag in flags)


def propose_updates(
    session: Session,
    match_list: MatchList,
    *,
    suppression_key: str,
    rules: FlagRules,
    now: datetime,
) -> int:
    """Proposals from an opted-in organisation's matched rows; returns how
    many flags were opened (0 when the organisation is not opted in). A row
    proposed before (an open flag with the same values) is not proposed again.
    """
    organisation = session.get(Organisation, match_list.organisation_id)
    if organisation is None or not organisation.pooling_opt_in:
        return 0
    rows = session.scalars(
        select(MatchListRow)
        .where(
            MatchListRow.list_id == match_list.id,
            MatchListRow.status == MatchStatus.MATCHED.value,
            MatchListRow.field_key.contains(f":{FieldStatus.DIFFERENT.value}"),
        )
        .order_by(MatchListRow.position)
    ).all()
    opened = 0
    for row in rows:
        proposal = {
            name: row.values[name]
            for name, status in row.fields.items()
            if status == FieldStatus.DIFFERENT.value and row.values.get(name)
        }
        contact = session.get(Contact, row.contact_id) if row.contact_id else None
        if not proposal or contact is None:
            continue
        domain = contact.company.domain if contact.company else ""
        if is_suppressed(
            session,
            suppression_key,
            email=row.values.get("email") or contact.email,
            first_name=contact.first_name,
            last_name=contact.last_name,
            domains=(domain,),
        ):
            continue
        if _already_proposed(session, contact.id, proposal):
            continue
        open_flag(
            session,
            FlagKind.PROPOSED_CHANGE,
            FlagSource.CUSTOMER,
            now,
            rules,
            contact_id=contact.id,
            details=(
                f"Proposed by {organisation.name} (organisation {organisation.id}) "
                f"from list {match_list.id}, row {row.row_number}."
            ),
            proposal=proposal,
        )
        opened += 1
    return opened
