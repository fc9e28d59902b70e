"""What a moderator decides about an item, each decision one transaction:
the contact's change, the ledger effects (through ``portal.points.services``,
whose idempotency keys make a second run move nothing), an audit entry and a
notice to whoever reported the item.

Every action starts with :func:`take`, which locks the flag's row (``SELECT
… FOR UPDATE`` on PostgreSQL; on SQLite the caller's ``write_transaction``
holds the write lock from BEGIN), so of two moderators resolving one item at
once the second finds it resolved and is told so, with nothing moved.
Services only: they flush; the caller's transaction commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.audit import record_audit
from portal.auth.services import end_all_sessions
from portal.contacts import services as contacts
from portal.mail import public_url, send_email
from portal.models import (
    ConfirmationSource,
    Contact,
    ContactState,
    Flag,
    FlagKind,
    FlagState,
    Member,
    Revision,
    RevisionKind,
    RevisionSource,
    Role,
)
from portal.models.accounts import MemberStatus
from portal.moderation import merge as merging
from portal.moderation.queue import OWN_ITEM, holder_message, involved_members
from portal.points import services as points

# Fields a moderator may correct on a contact (a new company is a new record:
# graveyard the old one and point to it).
EDITABLE_FIELDS = (
    "first_name",
    "last_name",
    "title",
    "email",
    "phone",
    "city",
    "country",
)


class ActionRefused(Exception):
    """The action cannot be taken; ``message`` says why (nothing was written)."""

    def __init__(self, message: str, problems: Mapping[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = dict(problems or {})


class AlreadyResolved(ActionRefused):
    """Another moderator (or another tab) resolved the item first."""


@dataclass
class Moderation:
    """Who is acting, when, from where, under which rules."""

    session: Session
    moderator: Member
    rules: points.Rules
    now: datetime
    ip: str | None = None


@dataclass(frozen=True)
class Outcome:
    flag: Flag
    message: str


def take(ctx: Moderation, flag_id: int) -> Flag:
    """Lock the unresolved item ``flag_id`` for ``ctx.moderator``, claiming it
    if nobody holds it. Raises ``AlreadyResolved`` for a resolved item and
    ``ActionRefused`` for a missing one, one another moderator holds, or one
    about the moderator's own contribution or report."""
    flag = ctx.session.get(Flag, flag_id, with_for_update=True, populate_existing=True)
    if flag is None:
        raise ActionRefused("This item no longer exists.")
    if flag.state.resolved:
        raise AlreadyResolved(holder_message(flag))
    if flag.state == FlagState.CLAIMED and flag.moderator_id != ctx.moderator.id:
        raise ActionRefused(holder_message(flag))
    if ctx.moderator.id in involved_members(ctx.session, flag):
        raise ActionRefused(OWN_ITEM)
    if flag.state == FlagState.OPEN:
        flag.state = FlagState.CLAIMED
        flag.moderator_id = ctx.moderator.id
        flag.claimed_at = ctx.now
    return flag


def contributor_id(session: Session, flag: Flag) -> int | None:
    """The member a penalty or suspension would hit: the one a finding names,
    else the author of the revision at fault, else the contact's owner."""
    if flag.member_id is not None:
        return flag.member_id
    if flag.revision_id is not None:
        author = session.scalar(
            select(Revision.member_id).where(Revision.id == flag.revision_id)
        )
        if author is not None:
            return author
    if flag.contact_id is not None:
        return session.scalar(
            select(Contact.owner_id).where(Contact.id == flag.contact_id)
        )
    return None


def _contact_of(ctx: Moderation, flag: Flag) -> Contact:
    contact = ctx.session.get(Contact, flag.contact_id) if flag.contact_id else None
    if contact is None:
        raise ActionRefused(
            "This item is not about a contact; dismiss it, or act on the contributor."
        )
    return contact


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ActionRefused("Give a reason: the reporter and the audit log see it.")
    return reason[:400]


def _finish(
    ctx: Moderation, flag: Flag, action: str, summary: str, **details
) -> Outcome:
    """Audit the decision and tell the reporter; returns the moderator's message."""
    record_audit(
        f"moderation.{action}",
        actor=ctx.moderator,
        target=flag,
        details={"kind": flag.kind.value, "resolution": flag.resolution, **details},
        ip=ctx.ip,
        session=ctx.session,
    )
    notify_reporter(ctx.session, flag, summary)
    return Outcome(flag, summary)


def notify_reporter(session: Session, flag: Flag, summary: str) -> None:
    """Email the reporter what was decided (their points page lists it too)."""
    if flag.reporter_id is None:
        return
    reporter = session.get(Member, flag.reporter_id)
    if reporter is None:
        return
    body = (
        f"Hello {reporter.display_name},\n\n"
        f"A moderator decided on your report ({flag.kind.label.lower()}):\n"
        f"{summary}\n\nReason given: {flag.resolution}\n\n"
        f"Your points and reports: {public_url('points.overview')}\n"
    )
    send_email(
        reporter.email,
        f"Your report was {flag.state.value}",
        body,
        kind="moderation_decision",
        session=session,
    )


def _uphold(
    ctx: Moderation,
    flag: Flag,
    resolution: str,
    *,
    penalise: bool = True,
    refund: bool = False,
) -> None:
    points.settle_upheld_challenge(
        ctx.session,
        flag,
        ctx.rules,
        ctx.now,
        moderator_id=ctx.moderator.id,
        resolution=resolution,
        penalise=penalise,
        refund=refund,
        note=_note(flag, resolution),
    )


def _field_names(changed) -> str:
    return ", ".join(changed).replace("_", " ")


def _note(flag: Flag, resolution: str) -> str:
    return f"Item #{flag.id} ({flag.kind.label.lower()}): {resolution}"[:500]


def _settle_challenge_state(session: Session, contact: Contact) -> None:
    """A disputed contact with no challenge left open is active again."""
    if contact.state == ContactState.DISPUTED and not points.open_challenges(
        session, contact.id
    ):
        contact.state = ContactState.ACTIVE


# --- the actions ---------------------------------------------------------------


def dismiss(ctx: Moderation, flag_id: int, reason: str) -> Outcome:
    """Nothing was wrong: no points move; a disputed contact is active again."""
    reason = _reason(reason)
    flag = take(ctx, flag_id)
    points.settle_dismissed_challenge(
        ctx.session, flag, ctx.now, moderator_id=ctx.moderator.id, resolution=reason
    )
    return _finish(ctx, flag, "dismissed", "Dismissed: the data stays as it is.")


def correct(
    ctx: Moderation,
    flag_id: int,
    values: Mapping[str, str],
    reason: str,
    *,
    penalise: bool = True,
) -> Outcome:
    """Uphold the item by correcting the contact's fields (a moderator's
    revision); the reporter is rewarded and the contributor at fault loses
    their pending points (and, ``penalise``, the penalty)."""
    reason = _reason(reason)
    flag = take(ctx, flag_id)
    contact = _contact_of(ctx, flag)
    changed = apply_corrections(ctx, contact, values)
    if not changed:
        raise ActionRefused("Change at least one field, or choose another action.")
    _uphold(ctx, flag, reason, penalise=penalise)
    ctx.session.flush()
    _settle_challenge_state(ctx.session, contact)
    return _finish(
        ctx,
        flag,
        "corrected",
        f"Upheld: {contact.full_name}'s {_field_names(changed)} corrected.",
        fields=sorted(changed),
    )


def apply_corrections(
    ctx: Moderation, contact: Contact, values: Mapping[str, str]
) -> dict[str, object]:
    """Check and apply a moderator's field values (the entry checks apply:
    business data only, an email no other contact has) and record them as a
    moderator's revision. Returns the changed fields; raises
    ``ActionRefused`` with a problem per field."""
    current = {
        name: contacts.field_value(contact, name) or ""
        for name in contacts.PROVENANCE_FIELDS
    }
    submitted = {
        name: (values.get(name) or "").strip()
        for name in EDITABLE_FIELDS
        if name in values
    }
    try:
        clean = contacts.clean_contact(
            {**current, **submitted, "company_domain": contact.company.domain}
        )
    except contacts.ContributionRefused as refused:
        raise ActionRefused(
            "Some values are not accepted.", refused.problems
        ) from refused
    changes = {
        name: getattr(clean, name)
        for name in EDITABLE_FIELDS
        if getattr(clean, name) != getattr(contact, name)
    }
    if "email" in changes:
        taken = ctx.session.scalar(
            select(Contact.id).where(
                Contact.email == changes["email"], Contact.id != contact.id
            )
        )
        if taken:
            raise ActionRefused(
                "Some values are not accepted.",
                {"email": f"Contact #{taken} has this email: merge the two instead."},
            )
    if not changes:
        return {}
    for name, value in changes.items():
        setattr(contact, name, value)
    if "title" in changes:
        contact.seniority, contact.department = clean.seniority, clean.department
    contact.last_confirmed_at = ctx.now
    ctx.session.add(
        Revision(
            contact_id=contact.id,
            member_id=ctx.moderator.id,
            kind=RevisionKind.CORRECTION,
            source=RevisionSource.MODERATOR,
            fields={name: value for name, value in changes.items() if value},
            created_at=ctx.now,
        )
    )
    ctx.session.flush()
    return changes


def graveyard(
    ctx: Moderation,
    flag_id: int,
    reason: str,
    *,
    successor_id: int | None = None,
    penalise: bool = True,
) -> Outcome:
    """The person left or the record is invalid: the contact goes to the
    graveyard (pointing to the person's new record if given), the reporter is
    rewarded, everyone who revealed it in the refund window is refunded once
    per unlock, and other open "left the company" reports on it are upheld
    too (their reporters rewarded, no second penalty)."""
    reason = _reason(reason)
    flag = take(ctx, flag_id)
    contact = _contact_of(ctx, flag)
    if contact.state == ContactState.GRAVEYARD:
        raise ActionRefused("This contact is already in the graveyard.")
    if successor_id is not None:
        successor = ctx.session.get(Contact, successor_id)
        if successor is None or successor.id == contact.id:
            raise ActionRefused(
                "The new record must be another existing contact.",
                {"successor_id": "No other contact has this number."},
            )
        if successor.state == ContactState.GRAVEYARD:
            raise ActionRefused(
                "The new record is itself in the graveyard.",
                {"successor_id": "Choose the person's current record."},
            )
        contact.successor_id = successor.id
    contact.state = ContactState.GRAVEYARD
    ctx.session.flush()
    _uphold(ctx, flag, reason, penalise=penalise, refund=True)
    for sibling in points.open_challenges(ctx.session, contact.id):
        if sibling.kind != FlagKind.LEFT_COMPANY or sibling.id == flag.id:
            continue
        points.settle_upheld_challenge(
            ctx.session,
            sibling,
            ctx.rules,
            ctx.now,
            moderator_id=ctx.moderator.id,
            resolution=f"Upheld with item #{flag.id}: {reason}"[:500],
            penalise=False,
            note=_note(sibling, reason),
        )
        notify_reporter(
            ctx.session, sibling, f"Upheld: {contact.full_name} is in the graveyard."
        )
    return _finish(
        ctx,
        flag,
        "graveyarded",
        f"Upheld: {contact.full_name} is in the graveyard; members who revealed "
        "the contact recently are refunded.",
        successor_id=contact.successor_id,
    )


def delete_contact(ctx: Moderation, flag_id: int, reason: str) -> Outcome:
    """The record holds personal data: it is deleted (its revisions, unlocks
    and disclosures with it); the item is kept, pointing at no contact."""
    reason = _reason(reason)
    flag = take(ctx, flag_id)
    contact = _contact_of(ctx, flag)
    name, contact_id = contact.full_name, contact.id
    _uphold(ctx, flag, reason)
    flag.details = f"{flag.details}\n[Deleted contact #{contact.id}: {name}]".strip()
    flag.contact_id = None
    ctx.session.flush()
    ctx.session.expunge(contact)
    ctx.session.execute(delete(Contact).where(Contact.id == contact_id))
    ctx.session.flush()
    return _finish(ctx, flag, "deleted", f"Upheld: the record of {name} is deleted.")


def merge(
    ctx: Moderation,
    flag_id: int,
    reason: str,
    *,
    survivor_id: int,
    other_id: int,
    winners: Mapping[str, str],
) -> Outcome:
    """Merge two records of one person (see ``portal.moderation.merge``).
    The later record's contribution is the one at fault, whichever record the
    report named: its pending points void and its contributor is penalised."""
    reason = _reason(reason)
    flag = take(ctx, flag_id)
    survivor = ctx.session.get(Contact, survivor_id)
    other = ctx.session.get(Contact, other_id)
    if survivor is None or other is None:
        raise ActionRefused("Both contacts must exist.")
    if ctx.moderator.id in {survivor.owner_id, other.owner_id}:
        raise ActionRefused(
            "One of these contacts is your own contribution: another moderator "
            "has to merge them."
        )
    # The later record duplicated the earlier: its contribution is at fault.
    duplicate_contribution = ctx.session.scalar(
        select(Revision)
        .where(
            Revision.contact_id == max(survivor.id, other.id),
            Revision.kind == RevisionKind.CONTRIBUTION,
        )
        .limit(1)
    )
    try:
        result = merging.merge_contacts(
            ctx.session,
            survivor,
            other,
            winners,
            moderator_id=ctx.moderator.id,
            rules=ctx.rules,
            now=ctx.now,
            note=f"Item #{flag.id}: duplicate merged",
        )
    except merging.MergeRefused as refused:
        raise ActionRefused(refused.message) from refused
    flag.revision_id = duplicate_contribution.id if duplicate_contribution else None
    _uphold(ctx, flag, reason)
    return _finish(
        ctx,
        flag,
        "merged",
        f"Upheld: the duplicate was merged into {survivor.full_name} (#{survivor.id}).",
        survivor_id=survivor.id,
        deleted_id=result.deleted_id,
        fields_from_other=sorted(result.fields_from_other),
        unlocks_moved=result.unlocks_moved,
        double_payments_refunded=result.refunded,
    )


def approve(
    ctx: Moderation, flag_id: int, values: Mapping[str, str], reason: str
) -> Outcome:
    """Edit and approve: the moderator's values are applied; a held contact
    becomes active (its contributor's pending points vest as a moderator's
    confirmation does). A member's proposal so applied is upheld; a hold at
    entry is dismissed (the contribution was not bad)."""
    reason = _reason(reason)
    flag = take(ctx, flag_id)
    contact = _contact_of(ctx, flag)
    if contact.state == ContactState.GRAVEYARD:
        raise ActionRefused("A contact in the graveyard cannot be approved.")
    changed = apply_corrections(ctx, contact, values)
    if flag.kind == FlagKind.PROPOSED_CHANGE:
        _uphold(ctx, flag, reason, penalise=False)
    else:
        points.settle_dismissed_challenge(
            ctx.session, flag, ctx.now, moderator_id=ctx.moderator.id, resolution=reason
        )
    contacts.confirm_contact(
        ctx.session,
        contact,
        ctx.moderator.id,
        ConfirmationSource.MODERATOR,
        ctx.now,
        rules=ctx.rules,
    )
    return _finish(
        ctx,
        flag,
        "approved",
        f"Approved: {contact.full_name} is {contact.state.label.lower()}"
        + (f", with {_field_names(changed)} edited." if changed else "."),
        fields=sorted(changed),
    )


def penalise(ctx: Moderation, flag_id: int, amount: int, reason: str) -> Outcome:
    """Take up to ``amount`` points from the contributor (never below zero)
    and uphold the item; their pending points on the revision at fault void."""
    reason = _reason(reason)
    if amount <= 0:
        raise ActionRefused("The penalty must be a positive number of points.")
    flag = take(ctx, flag_id)
    member_id = contributor_id(ctx.session, flag)
    if member_id is None:
        raise ActionRefused("No member contributed this: there is nobody to penalise.")
    _uphold(ctx, flag, reason, penalise=False)
    taken = points.penalise_member(
        ctx.session,
        member_id,
        amount,
        f"flag:{flag.id}:moderator_penalty",
        flag,
        note=_note(flag, reason),
    )
    return _finish(
        ctx,
        flag,
        "penalised",
        f"Upheld: the contributor lost {taken} points.",
        member_id=member_id,
        asked=amount,
        taken=taken,
    )


def suspend(ctx: Moderation, flag_id: int, reason: str) -> Outcome:
    """Suspend the contributor (every session revoked at once) and uphold
    the item; their pending points on the revision at fault void."""
    reason = _reason(reason)
    flag = take(ctx, flag_id)
    member_id = contributor_id(ctx.session, flag)
    member = ctx.session.get(Member, member_id) if member_id else None
    if member is None:
        raise ActionRefused("No member contributed this: there is nobody to suspend.")
    if member.has_role(Role.MODERATOR):
        raise ActionRefused(
            "Moderators and admins are suspended by an admin, not from the queue."
        )
    _uphold(ctx, flag, reason, penalise=False)
    member.status = MemberStatus.SUSPENDED
    revoked = end_all_sessions(member, ctx.session)
    return _finish(
        ctx,
        flag,
        "suspended",
        "Upheld: the contributor is suspended.",
        member_id=member.id,
        sessions_revoked=revoked,
    )
