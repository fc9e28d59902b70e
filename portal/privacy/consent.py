"""A member's own data: consent choices (attribution, notifications), the
export of their account data, and account deletion.

Deleting an account keeps what the pool needs and nothing that names the
member: contributions stay (ownership of their contacts passes to the pool,
revisions keep only the random pseudonym), the ledger stays (its sums are
the economy's), and the member row is anonymised: email, display name and
password are replaced, logins and their IPs deleted, the organisation left.
Functions flush; the caller commits.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal.models import (
    Attribution,
    Contact,
    ContactConfirmation,
    ContributionFile,
    Disclosure,
    LedgerEntry,
    Member,
    MemberPreferences,
    MemberSession,
    OneTimeToken,
    Revision,
    Unlock,
)
from portal.models.accounts import MemberStatus


def preferences(session: Session, member_id: int) -> MemberPreferences:
    """The member's choices (the defaults when they never chose)."""
    found = session.get(MemberPreferences, member_id)
    if found is None:
        found = MemberPreferences(
            member_id=member_id,
            attribution=Attribution.PSEUDONYM,
            notify_royalties=True,
            notify_challenges=True,
            weekly_digest=False,
        )
    return found


def save_preferences(
    session: Session,
    member_id: int,
    *,
    attribution: Attribution,
    notify_royalties: bool,
    notify_challenges: bool,
    weekly_digest: bool,
    now: datetime,
) -> MemberPreferences:
    choice = preferences(session, member_id)
    choice.attribution = attribution
    choice.notify_royalties = notify_royalties
    choice.notify_challenges = notify_challenges
    choice.weekly_digest = weekly_digest
    choice.updated_at = now
    session.add(choice)
    session.flush()
    return choice


def contributor_label(session: Session, member: Member | None) -> str:
    """How a contributor is named on their contributions: "member 7F3A" (the
    pseudonym, by default) or their display name if they chose it."""
    if member is None:
        return "a former member"
    if preferences(session, member.id).attribution == Attribution.DISPLAY_NAME:
        return member.display_name
    return f"member {member.pseudonym}"


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def account_export(session: Session, member: Member) -> dict[str, Any]:
    """Everything held about the member's account, as plain data."""
    choice = preferences(session, member.id)
    revisions = session.scalars(
        select(Revision).where(Revision.member_id == member.id).order_by(Revision.id)
    )
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.member_id == member.id)
        .order_by(LedgerEntry.id)
    )
    unlocks = session.scalars(
        select(Unlock).where(Unlock.member_id == member.id).order_by(Unlock.id)
    )
    disclosures = session.scalars(
        select(Disclosure)
        .where(Disclosure.member_id == member.id)
        .order_by(Disclosure.id)
    )
    return {
        "profile": {
            "email": member.email,
            "display_name": member.display_name,
            "pseudonym": member.pseudonym,
            "role": member.role.value,
            "organisation": member.organisation.name if member.organisation else None,
            "created_at": _when(member.created_at),
            "last_login_at": _when(member.last_login_at),
            "email_verified_at": _when(member.email_verified_at),
        },
        "consent": {
            "attribution": choice.attribution.value,
            "notify_royalties": choice.notify_royalties,
            "notify_challenges": choice.notify_challenges,
            "weekly_digest": choice.weekly_digest,
        },
        "contributions": [
            {
                "contact_id": r.contact_id,
                "kind": r.kind.value,
                "source": r.source.value,
                "fields": r.fields,
                "attestation": r.attestation,
                "at": _when(r.created_at),
            }
            for r in revisions
        ],
        "ledger": [
            {
                "delta": e.delta,
                "kind": e.kind.value,
                "state": e.state.value,
                "at": _when(e.created_at),
            }
            for e in entries
        ],
        "reveals": [
            {"contact_id": u.contact_id, "cost": u.cost, "at": _when(u.created_at)}
            for u in unlocks
        ],
        "disclosures": [
            {
                "contact_id": d.contact_id,
                "channel": d.channel.value,
                "at": _when(d.created_at),
            }
            for d in disclosures
        ],
    }


def delete_account(session: Session, member: Member, now: datetime) -> None:
    """Erase the member's personal data; contributions stay with the pool."""
    session.execute(
        update(Contact)
        .where(Contact.owner_id == member.id)
        .values(owner_id=None)
        .execution_options(synchronize_session=False)
    )
    # Keyed IP hashes tie contributions to a place: not kept past deletion.
    for model in (Revision, ContactConfirmation, ContributionFile):
        session.execute(
            update(model)
            .where(model.member_id == member.id)
            .values(ip_hash=None)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(ContributionFile)
        .where(ContributionFile.member_id == member.id)
        .values(content=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(MemberSession)
        .where(MemberSession.member_id == member.id)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(OneTimeToken)
        .where(OneTimeToken.subject.startswith(f"member:{member.id}:"))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(MemberPreferences)
        .where(MemberPreferences.member_id == member.id)
        .execution_options(synchronize_session=False)
    )
    member.email = f"deleted-{member.id}@deleted.invalid"
    member.display_name = "Deleted member"
    member.password_hash = "!deleted:" + secrets.token_hex(16)
    member.status = MemberStatus.SUSPENDED
    member.organisation_id = None
    member.last_login_at = None
    session.flush()
