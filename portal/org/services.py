"""Organisations run by their org admins: invitations, membership, usage.

An invitation is a row the org admin can see (``OrganisationInvitation``)
plus a one-time token in the emailed link (``portal.tokens``, purpose
``org_invitation``). Accepting checks, before the token is used up, that the
signed-in member's email is the invited one, so opening the link in the wrong
account spends nothing. Inviting the same address again sends a new link and
retires the old one.

Functions take the session to work in and flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import tokens
from portal.audit import record_audit
from portal.auth.services import account_email_key
from portal.billing.allowances import month_of
from portal.billing.plans import allowance_per_seat, seat_holders
from portal.billing.rules import BillingRules
from portal.models import (
    EntryKind,
    EntryState,
    InvitationState,
    Invoice,
    LedgerEntry,
    Member,
    Organisation,
    OrganisationInvitation,
    Role,
    Unlock,
)

TOKEN_PURPOSE = "org_invitation"  # noqa: S105 - a token purpose, not a secret


class OrgChangeRefused(ValueError):
    """The change is not allowed; the message says why, to a person."""


def _subject(invitation: OrganisationInvitation) -> str:
    return f"invitation:{invitation.id}"


def invite(
    session: Session,
    organisation: Organisation,
    email: str,
    *,
    inviter: Member,
    lifetime: timedelta,
    now: datetime,
) -> tuple[OrganisationInvitation, str]:
    """Invite ``email`` (already validated as an address) to ``organisation``.

    Returns the invitation and the secret token for its link. Raises
    ``OrgChangeRefused`` when the address already belongs to a member of the
    organisation."""
    key = account_email_key(email)
    already = session.scalar(
        select(Member.id).where(
            func.lower(Member.email) == key,
            Member.organisation_id == organisation.id,
        )
    )
    if already is not None:
        raise OrgChangeRefused(f"{email} is already a member of {organisation.name}.")
    invitation = session.scalar(
        select(OrganisationInvitation).where(
            OrganisationInvitation.organisation_id == organisation.id,
            OrganisationInvitation.email_key == key,
            OrganisationInvitation.state == InvitationState.PENDING,
        )
    )
    if invitation is None:
        invitation = OrganisationInvitation(
            organisation_id=organisation.id,
            email=email.strip(),
            email_key=key,
            created_at=now,
            expires_at=now + lifetime,
        )
        session.add(invitation)
    invitation.invited_by_id = inviter.id
    invitation.expires_at = now + lifetime
    session.flush()
    token = tokens.issue(session, TOKEN_PURPOSE, _subject(invitation), lifetime, now)
    record_audit(
        "organisation.member_invited",
        actor=inviter,
        target=organisation,
        details={"email": invitation.email, "invitation_id": invitation.id},
        session=session,
    )
    return invitation, token


def _invitation_of(
    session: Session, organisation: Organisation, invitation_id: int
) -> OrganisationInvitation | None:
    invitation = session.get(OrganisationInvitation, invitation_id)
    if invitation is None or invitation.organisation_id != organisation.id:
        return None
    return invitation


def revoke(
    session: Session,
    organisation: Organisation,
    invitation_id: int,
    *,
    actor: Member,
    now: datetime,
) -> OrganisationInvitation | None:
    """Withdraw a pending invitation; its link stops working. None when the
    organisation has no such invitation."""
    invitation = _invitation_of(session, organisation, invitation_id)
    if invitation is None:
        return None
    if invitation.state != InvitationState.PENDING:
        raise OrgChangeRefused(f"The invitation for {invitation.email} is closed.")
    invitation.state = InvitationState.REVOKED
    invitation.closed_at = now
    # Retire the link: issuing for the same subject expires earlier tokens,
    # and this one is never sent.
    tokens.issue(session, TOKEN_PURPOSE, _subject(invitation), timedelta(0), now)
    record_audit(
        "organisation.invitation_revoked",
        actor=actor,
        target=organisation,
        details={"email": invitation.email, "invitation_id": invitation.id},
        session=session,
    )
    return invitation


def invitation_for_token(
    session: Session, token: str, now: datetime
) -> OrganisationInvitation:
    """The open invitation behind ``token``, without using the token.

    Raises ``tokens.TokenRefused`` (invalid, used or expired)."""
    subject = tokens.check(session, TOKEN_PURPOSE, token, now)
    invitation = session.get(OrganisationInvitation, int(subject.split(":", 1)[1]))
    if invitation is None or invitation.state != InvitationState.PENDING:
        raise tokens.TokenUsed()
    return invitation


def accept(session: Session, token: str, member: Member, now: datetime) -> Organisation:
    """``member`` joins the organisation that invited their email.

    Raises ``tokens.TokenRefused`` for a bad link and ``OrgChangeRefused``
    when the member's email is not the invited one (the link stays usable)."""
    invitation = invitation_for_token(session, token, now)
    if account_email_key(member.email) != invitation.email_key:
        raise OrgChangeRefused(
            f"This invitation is for {invitation.email}. Log in with that address "
            "to accept it."
        )
    tokens.consume(session, TOKEN_PURPOSE, token, now)
    member = session.get(Member, member.id)
    previous = member.organisation_id
    member.organisation_id = invitation.organisation_id
    invitation.state = InvitationState.ACCEPTED
    invitation.accepted_by_id = member.id
    invitation.closed_at = now
    record_audit(
        "organisation.member_joined",
        actor=member,
        target=invitation.organisation,
        details={"invitation_id": invitation.id, "previous_organisation": previous},
        session=session,
    )
    return invitation.organisation


def remove_member(
    session: Session, organisation: Organisation, member_id: int, *, actor: Member
) -> Member | None:
    """Take a member out of the organisation (an org admin among them becomes a
    plain member). None when the organisation has no such member."""
    member = session.get(Member, member_id)
    if member is None or member.organisation_id != organisation.id:
        return None
    if member.id == actor.id:
        raise OrgChangeRefused(
            "You cannot remove yourself; ask another org admin or Tessera's admins."
        )
    member.organisation_id = None
    if member.role == Role.ORG_ADMIN:
        member.role = Role.MEMBER
    record_audit(
        "organisation.member_removed",
        actor=actor,
        target=organisation,
        details={"member_id": member.id, "email": member.email},
        session=session,
    )
    return member


@dataclass(frozen=True)
class Usage:
    """The organisation's month so far."""

    month: str
    members: int
    seat_holders: list[Member]
    allowance_per_seat: int
    allowance_granted: int
    reveals: int
    points_spent: int


def usage(
    session: Session, organisation: Organisation, rules: BillingRules, now: datetime
) -> Usage:
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    in_org = select(Member.id).where(Member.organisation_id == organisation.id)
    this_month = LedgerEntry.created_at >= month_start

    def points(kind: EntryKind) -> int:
        return session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(
                LedgerEntry.member_id.in_(in_org),
                LedgerEntry.kind == kind,
                LedgerEntry.state == EntryState.VESTED,
                this_month,
            )
        )

    return Usage(
        month=month_of(now),
        members=session.scalar(select(func.count()).select_from(in_org.subquery())),
        seat_holders=seat_holders(session, organisation),
        allowance_per_seat=allowance_per_seat(organisation, rules),
        allowance_granted=points(EntryKind.ALLOWANCE),
        reveals=session.scalar(
            select(func.count()).where(
                Unlock.member_id.in_(in_org), Unlock.created_at >= month_start
            )
        ),
        points_spent=-points(EntryKind.UNLOCK),
    )


def members_of(session: Session, organisation: Organisation) -> list[Member]:
    return list(
        session.scalars(
            select(Member)
            .where(Member.organisation_id == organisation.id)
            .order_by(Member.display_name, Member.id)
        )
    )


def invitations_of(
    session: Session, organisation: Organisation
) -> list[OrganisationInvitation]:
    """Pending invitations first, then the latest closed ones."""
    return list(
        session.scalars(
            select(OrganisationInvitation)
            .where(OrganisationInvitation.organisation_id == organisation.id)
            .order_by(
                (OrganisationInvitation.state == InvitationState.PENDING).desc(),
                OrganisationInvitation.id.desc(),
            )
            .limit(50)
        )
    )


def invoices_of(session: Session, organisation: Organisation) -> list[Invoice]:
    """The organisation's invoices that were sent (drafts are Tessera's)."""
    return list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.organisation_id == organisation.id,
                Invoice.number.is_not(None),
            )
            .order_by(Invoice.id.desc())
        )
    )
