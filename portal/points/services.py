"""The points economy's rules on top of the ledger: what a contribution or an
update earns, when pending points vest, what an upheld or dismissed challenge
does, tiers with their daily caps, and the contributor rating.

Every movement goes through ``portal.ledger`` with an idempotency key derived
from what caused it, so running any of these twice changes nothing.
Functions flush; the caller commits.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from portal import ledger
from portal.audit import record_audit
from portal.models import (
    Contact,
    ContactConfirmation,
    ContactLookup,
    ContactState,
    ContributionFile,
    EntryKind,
    EntryState,
    Flag,
    FlagKind,
    FlagState,
    LedgerEntry,
    Member,
    Revision,
    RevisionKind,
    RevisionSource,
    Unlock,
)
from portal.models.moderation import CHALLENGE_KINDS
from portal.moderation.flags import close_flag

REVISIONS = Revision.__tablename__
# Revisions that count against the daily cap: a member's own contributions.
MEMBER_SOURCES = (RevisionSource.FORM, RevisionSource.CSV)


@dataclass(frozen=True)
class Rules:
    """The economy's numbers, from configuration (``Rules.from_config``)."""

    contribution_points: int = 5
    update_points: int = 5
    paid_update_interval_days: int = 30
    vesting_days: int = 14
    challenge_reward_points: int = 2
    bad_contribution_penalty: int = 5
    refund_window_days: int = 30
    rating_window_days: int = 45
    rookie_daily_cap: int = 5
    prospector_daily_cap: int = 20
    prospector_vested_contributions: int = 20
    closer_daily_cap: int = 100
    closer_vested_contributions: int = 25
    closer_min_rating_percent: int = 80
    # Answers that say a person or email is known, per member per day.
    known_answer_daily_limit: int = 20
    rookie_daily_challenges: int = 3
    prospector_daily_challenges: int = 10
    closer_daily_challenges: int = 25
    # This many challenges dismissed within the window bar the member from
    # challenging for ``challenge_ban_days`` after the last of them.
    challenge_ban_dismissed: int = 3
    challenge_ban_window_days: int = 30
    challenge_ban_days: int = 14
    # A confirmation vests a contributor's points only when the confirmer
    # shared no IP with them within this window (and is not of their org).
    independence_window_days: int = 30

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Rules:
        return cls(
            **{
                name: int(config[name.upper()])
                for name in cls.__dataclass_fields__
                if name.upper() in config
            }
        )


@dataclass(frozen=True)
class Tier:
    name: str
    daily_cap: int
    challenge_cap: int
    # What reaching the next tier takes, in words; None at the top.
    next_tier: str | None
    next_requirement: str | None
    vested_contributions: int
    rating: float | None


def vested_contributions(session: Session, member_id: int) -> int:
    return session.scalar(
        select(func.count()).where(
            LedgerEntry.member_id == member_id,
            LedgerEntry.kind == EntryKind.CONTRIBUTION,
            LedgerEntry.state == EntryState.VESTED,
        )
    )


def contributor_rating(
    session: Session, member_id: int, rules: Rules, now: datetime
) -> float | None:
    """Share of the member's contributions in the rating window that were not
    upheld as bad; None when they contributed nothing in the window."""
    since = now - timedelta(days=rules.rating_window_days)
    recent = (
        select(Revision.id)
        .where(
            Revision.member_id == member_id,
            Revision.kind == RevisionKind.CONTRIBUTION,
            Revision.created_at >= since,
        )
        .subquery()
    )
    total = session.scalar(select(func.count()).select_from(recent))
    if not total:
        return None
    bad = session.scalar(
        select(func.count(func.distinct(Flag.revision_id))).where(
            Flag.revision_id.in_(select(recent.c.id)), Flag.state == FlagState.UPHELD
        )
    )
    return (total - bad) / total


def member_tier(session: Session, member_id: int, rules: Rules, now: datetime) -> Tier:
    vested = vested_contributions(session, member_id)
    rating = contributor_rating(session, member_id, rules, now)
    rating_ok = rating is None or rating * 100 >= rules.closer_min_rating_percent
    if vested >= rules.closer_vested_contributions and rating_ok:
        return Tier(
            "Closer",
            rules.closer_daily_cap,
            rules.closer_daily_challenges,
            None,
            None,
            vested,
            rating,
        )
    if vested >= rules.prospector_vested_contributions:
        needs = f"{rules.closer_vested_contributions} vested contributions"
        if not rating_ok or vested >= rules.closer_vested_contributions:
            needs += f" and a rating of {rules.closer_min_rating_percent}% or more"
        return Tier(
            "Prospector",
            rules.prospector_daily_cap,
            rules.prospector_daily_challenges,
            "Closer",
            needs,
            vested,
            rating,
        )
    return Tier(
        "Rookie",
        rules.rookie_daily_cap,
        rules.rookie_daily_challenges,
        "Prospector",
        f"{rules.prospector_vested_contributions} vested contributions",
        vested,
        rating,
    )


def start_of_day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def contributions_today(session: Session, member_id: int, now: datetime) -> int:
    """New contacts and updates the member made since midnight UTC, and the
    answers about known contacts they had that wrote no revision (an "already
    known", a likely duplicate, a proposal): every such answer costs one."""
    since = start_of_day(now)
    revisions = session.scalar(
        select(func.count()).where(
            Revision.member_id == member_id,
            Revision.kind.in_((RevisionKind.CONTRIBUTION, RevisionKind.UPDATE)),
            Revision.source.in_(MEMBER_SOURCES),
            Revision.created_at >= since,
        )
    )
    answers = session.scalar(
        select(func.count()).where(
            ContactLookup.member_id == member_id,
            ContactLookup.revision_id.is_(None),
            ContactLookup.created_at >= since,
        )
    )
    return revisions + answers


def award_contribution(session: Session, revision: Revision, rules: Rules) -> None:
    """The pending points for a new contact, once per contributing revision."""
    _award_pending(session, revision, rules.contribution_points, EntryKind.CONTRIBUTION)


def award_update(session: Session, revision: Revision, rules: Rules) -> None:
    """The pending points for a meaningful update, once per revision."""
    _award_pending(session, revision, rules.update_points, EntryKind.UPDATE)


def _award_pending(session, revision: Revision, amount: int, kind: EntryKind) -> None:
    ledger.record(
        session,
        revision.member_id,
        amount,
        kind,
        f"{kind.value}:{revision.id}",
        state=EntryState.PENDING,
        reference=revision,
    )


def paid_update_due(
    session: Session, contact_id: int, rules: Rules, now: datetime
) -> bool:
    """True when no update to this contact earned points in the interval."""
    since = now - timedelta(days=rules.paid_update_interval_days)
    paid = session.scalar(
        select(
            exists().where(
                LedgerEntry.kind == EntryKind.UPDATE,
                LedgerEntry.state != EntryState.VOID,
                LedgerEntry.reference_type == REVISIONS,
                LedgerEntry.reference_id == Revision.id,
                Revision.contact_id == contact_id,
                Revision.created_at >= since,
            )
        )
    )
    return not paid


def _pending_for_revisions(revision_ids) -> Any:
    return select(LedgerEntry).where(
        LedgerEntry.state == EntryState.PENDING,
        LedgerEntry.kind.in_((EntryKind.CONTRIBUTION, EntryKind.UPDATE)),
        LedgerEntry.reference_type == REVISIONS,
        LedgerEntry.reference_id.in_(revision_ids),
    )


def independent(
    session: Session,
    contributor_id: int,
    confirmer_id: int,
    confirmer_ip_hash: str | None,
    rules: Rules,
    now: datetime,
) -> bool:
    """Whether a member's confirmation may vest a contributor's points: they
    are different members, not of one organisation, and no IP (by its keyed
    hash) was used by both within ``independence_window_days``: the
    confirmer's current one, or any on either member's revisions,
    confirmations or uploaded files."""
    if contributor_id == confirmer_id:
        return False
    orgs = session.execute(
        select(Member.id, Member.organisation_id).where(
            Member.id.in_((contributor_id, confirmer_id))
        )
    ).all()
    org_ids = {org for _, org in orgs}
    if len(orgs) == 2 and len(org_ids) == 1 and None not in org_ids:
        return False
    since = now - timedelta(days=rules.independence_window_days)
    confirmer_hashes = _ip_hashes(session, confirmer_id, since) | {confirmer_ip_hash}
    confirmer_hashes.discard(None)
    return not (_ip_hashes(session, contributor_id, since) & confirmer_hashes)


def _ip_hashes(session: Session, member_id: int, since: datetime) -> set[str | None]:
    hashes: set[str | None] = set()
    for model in (Revision, ContactConfirmation, ContributionFile):
        hashes.update(
            session.scalars(
                select(model.ip_hash)
                .where(
                    model.member_id == member_id,
                    model.created_at >= since,
                    model.ip_hash.is_not(None),
                )
                .distinct()
            )
        )
    return hashes


def _awaiting_moderator():
    """Revisions whose "different person" flag no moderator has settled yet:
    their points stay pending whatever else happens."""
    return exists().where(
        Flag.revision_id == Revision.id,
        Flag.kind == FlagKind.POSSIBLE_DUPLICATE,
        Flag.state.in_((FlagState.OPEN, FlagState.CLAIMED)),
    )


def vest_contact_points(
    session: Session,
    contact_id: int,
    *,
    confirmed_by: int | None = None,
    confirmer_ip_hash: str | None = None,
    rules: Rules | None = None,
    now: datetime | None = None,
) -> int:
    """Vest the pending contribution/update entries on a contact that has been
    confirmed; returns how many entries moved. A member's confirmation
    (``confirmed_by``) vests only the entries of contributors it is
    independent of (``independent``); none vests a revision still awaiting a
    moderator's word on a "different person" flag."""
    revision_ids = select(Revision.id).where(
        Revision.contact_id == contact_id, ~_awaiting_moderator()
    )
    entries = session.scalars(_pending_for_revisions(revision_ids)).all()
    if confirmed_by is not None:
        if now is None:
            raise ValueError("a member's confirmation needs the time it was made")
        rules = rules or Rules()
        entries = [
            entry
            for entry in entries
            if independent(
                session, entry.member_id, confirmed_by, confirmer_ip_hash, rules, now
            )
        ]
    return sum(ledger.vest(session, entry) for entry in entries)


def vest_due_points(
    session: Session, rules: Rules, now: datetime, *, batch_size: int = 500
) -> int:
    """Vest pending contribution/update points older than the vesting window
    whose contact is active: a held contact waits for a moderator, a disputed
    one for its challenge, a "different person" contribution for its flag, and
    an upheld challenge has already voided them.
    Idempotent; returns how many entries moved."""
    cutoff = now - timedelta(days=rules.vesting_days)
    statement = (
        select(LedgerEntry)
        .join(
            Revision,
            and_(
                LedgerEntry.reference_type == REVISIONS,
                LedgerEntry.reference_id == Revision.id,
            ),
        )
        .join(Contact, Contact.id == Revision.contact_id)
        .where(
            LedgerEntry.state == EntryState.PENDING,
            LedgerEntry.kind.in_((EntryKind.CONTRIBUTION, EntryKind.UPDATE)),
            LedgerEntry.created_at <= cutoff,
            Contact.state == ContactState.ACTIVE,
            ~_awaiting_moderator(),
        )
        .order_by(LedgerEntry.id)
        .limit(batch_size)
    )
    moved = 0
    last_id = 0
    while True:
        entries = session.scalars(statement.where(LedgerEntry.id > last_id)).all()
        if not entries:
            return moved
        moved += sum(ledger.vest(session, entry) for entry in entries)
        last_id = entries[-1].id
        session.flush()


def penalise_member(
    session: Session,
    member_id: int,
    amount: int,
    key: str,
    reference: Any,
    *,
    note: str | None = None,
) -> int:
    """Take up to ``amount`` vested points, once per ``key``: the balance
    never goes below zero, so a member with fewer points loses what they
    have. Returns the points taken (0 for a key used before)."""
    if session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key)):
        return 0
    while amount > 0:
        available = ledger.vested_balance(session, member_id)
        take = min(amount, available)
        if take == 0:
            return 0
        try:
            ledger.record(
                session,
                member_id,
                -take,
                EntryKind.PENALTY,
                key,
                reference=reference,
                note=note,
            )
            return take
        except ledger.InsufficientPoints:
            continue
    return 0


def settle_upheld_challenge(
    session: Session,
    flag: Flag,
    rules: Rules,
    now: datetime,
    *,
    moderator_id: int | None,
    resolution: str,
    penalise: bool = True,
    refund: bool = False,
    note: str | None = None,
) -> None:
    """The ledger effects of upholding a flag, all in the caller's transaction:
    the reporter's reward; the contributor's pending points on the revision at
    fault voided and (``penalise``) a penalty; and (``refund``, when the contact
    is graveyarded) a refund of every reveal of it in the refund window.
    ``note`` (what was decided) goes on each entry, for the points history.
    Raises ``FlagAlreadyResolved`` (nothing moves) for a flag resolved before."""
    close_flag(
        flag, FlagState.UPHELD, now, moderator_id=moderator_id, resolution=resolution
    )
    if flag.reporter_id is not None and flag.kind.is_challenge:
        ledger.record(
            session,
            flag.reporter_id,
            rules.challenge_reward_points,
            EntryKind.CHALLENGE_REWARD,
            f"flag:{flag.id}:reward",
            reference=flag,
            note=note,
        )
    revision = session.get(Revision, flag.revision_id) if flag.revision_id else None
    if revision is not None:
        settle_bad_revision(
            session, revision, flag, rules, penalise=penalise, note=note
        )
    if refund and flag.contact_id is not None:
        refund_recent_unlocks(session, flag.contact_id, rules, now, note=note)
    session.flush()


def settle_bad_revision(
    session: Session,
    revision: Revision,
    flag: Flag,
    rules: Rules,
    *,
    penalise: bool = True,
    note: str | None = None,
) -> None:
    """A contribution upheld as bad by ``flag``: its pending points void and
    (``penalise``) its contributor loses the penalty, once per flag."""
    if revision.member_id is None:
        return
    for entry in session.scalars(_pending_for_revisions([revision.id])):
        ledger.void(session, entry)
    if penalise:
        penalise_member(
            session,
            revision.member_id,
            rules.bad_contribution_penalty,
            f"flag:{flag.id}:penalty",
            flag,
            note=note,
        )


def settle_dismissed_challenge(
    session: Session,
    flag: Flag,
    now: datetime,
    *,
    moderator_id: int | None,
    resolution: str,
) -> None:
    """Dismiss a flag: no points move; a disputed contact with no other open
    challenge is active again (and its pending points vest on schedule)."""
    close_flag(
        flag,
        FlagState.DISMISSED,
        now,
        moderator_id=moderator_id,
        resolution=resolution,
    )
    session.flush()
    contact = session.get(Contact, flag.contact_id) if flag.contact_id else None
    if (
        contact is not None
        and contact.state == ContactState.DISPUTED
        and not open_challenges(session, contact.id)
    ):
        contact.state = ContactState.ACTIVE
    session.flush()


def challenges_today(session: Session, member_id: int, now: datetime) -> int:
    """Challenges the member sent since midnight UTC."""
    return session.scalar(
        select(func.count()).where(
            Flag.reporter_id == member_id,
            Flag.kind.in_(CHALLENGE_KINDS),
            Flag.created_at >= start_of_day(now),
        )
    )


def challenges_barred_until(
    session: Session, member_id: int, rules: Rules, now: datetime
) -> datetime | None:
    """When the member may challenge again, if ``challenge_ban_dismissed`` of
    their challenges were dismissed within ``challenge_ban_window_days`` and the
    last of those is less than ``challenge_ban_days`` old; None otherwise."""
    dismissed = session.scalars(
        select(Flag.resolved_at)
        .where(
            Flag.reporter_id == member_id,
            Flag.kind.in_(CHALLENGE_KINDS),
            Flag.state == FlagState.DISMISSED,
            Flag.resolved_at
            >= now
            - timedelta(
                days=rules.challenge_ban_days + rules.challenge_ban_window_days
            ),
        )
        .order_by(Flag.resolved_at.desc())
    ).all()
    window = timedelta(days=rules.challenge_ban_window_days)
    for index, last in enumerate(dismissed):
        group = dismissed[index : index + rules.challenge_ban_dismissed]
        if len(group) < rules.challenge_ban_dismissed:
            return None
        until = last + timedelta(days=rules.challenge_ban_days)
        if until <= now:
            return None
        if last - group[-1] <= window:
            return until
    return None


def open_challenges(session: Session, contact_id: int) -> list[Flag]:
    return list(
        session.scalars(
            select(Flag).where(
                Flag.contact_id == contact_id,
                Flag.kind.in_(CHALLENGE_KINDS),
                Flag.state.in_((FlagState.OPEN, FlagState.CLAIMED)),
            )
        )
    )


def refund_recent_unlocks(
    session: Session,
    contact_id: int,
    rules: Rules,
    now: datetime,
    *,
    note: str | None = None,
) -> int:
    """Give back what each member paid to reveal this contact in the refund
    window, once per unlock. Returns how many refunds were written."""
    since = now - timedelta(days=rules.refund_window_days)
    unlocks = session.scalars(
        select(Unlock).where(
            Unlock.contact_id == contact_id, Unlock.created_at >= since, Unlock.cost > 0
        )
    ).all()
    for unlock in unlocks:
        refund_unlock(session, unlock, rules, now, note=note)
    return len(unlocks)


@dataclass(frozen=True)
class HistoryContext:
    """What the points history says beside an entry."""

    contact_id: int | None = None
    contact_name: str | None = None
    # For a pending contribution or update: when it vests unless challenged.
    vests_on: datetime | None = None


def history_context(
    session: Session, entries: list[LedgerEntry], rules: Rules
) -> dict[int, HistoryContext]:
    """For each entry of a page of history, the contact it concerns (through
    its revision, reveal or flag) and, while pending, when it vests: the
    challenge window after it was earned, or sooner on confirmation."""
    by_type: dict[str, set[int]] = {}
    for entry in entries:
        if entry.reference_type and entry.reference_id is not None:
            by_type.setdefault(entry.reference_type, set()).add(entry.reference_id)
    contact_of: dict[tuple[str, int], int] = {}
    for model, column in (
        (Revision, Revision.contact_id),
        (Unlock, Unlock.contact_id),
        (Flag, Flag.contact_id),
    ):
        ids = by_type.get(model.__tablename__)
        if ids:
            for reference_id, contact_id in session.execute(
                select(model.id, column).where(model.id.in_(ids))
            ):
                if contact_id is not None:
                    contact_of[(model.__tablename__, reference_id)] = contact_id
    names = (
        {
            row.id: f"{row.first_name} {row.last_name}"
            for row in session.execute(
                select(Contact.id, Contact.first_name, Contact.last_name).where(
                    Contact.id.in_(set(contact_of.values()))
                )
            )
        }
        if contact_of
        else {}
    )
    context = {}
    for entry in entries:
        key = (entry.reference_type or "", entry.reference_id or 0)
        contact_id = contact_of.get(key)
        vests_on = None
        if entry.state == EntryState.PENDING and entry.kind in (
            EntryKind.CONTRIBUTION,
            EntryKind.UPDATE,
        ):
            vests_on = entry.created_at + timedelta(days=rules.vesting_days)
        context[entry.id] = HistoryContext(
            contact_id=contact_id if contact_id in names else None,
            contact_name=names.get(contact_id) if contact_id else None,
            vests_on=vests_on,
        )
    return context


def adjust_points(
    session: Session,
    member: Member,
    delta: int,
    reason: str,
    *,
    actor: Member | None,
    ip: str | None = None,
) -> int:
    """Add (or, with a negative ``delta``, remove) vested points by hand, with
    the reason on the entry and an audit entry; returns the new vested balance.

    Raises ``ValueError`` for a zero delta or an empty reason and
    ``ledger.InsufficientPoints`` when the balance would go below zero (nothing
    is written then)."""
    reason = (reason or "").strip()
    if delta == 0:
        raise ValueError("The change must not be 0.")
    if not reason:
        raise ValueError("Say why; the reason is kept on the entry.")
    entry = ledger.record(
        session,
        member.id,
        delta,
        EntryKind.ADJUSTMENT,
        f"adjustment:{secrets.token_hex(16)}",
        note=reason[:500],
    )
    record_audit(
        "points.adjusted",
        actor=actor,
        target=member,
        details={"delta": delta, "reason": reason, "entry_id": entry.id},
        ip=ip,
        session=session,
    )
    return ledger.vested_balance(session, member.id)


def refund_unlock(
    session: Session,
    unlock: Unlock,
    rules: Rules,
    now: datetime,
    *,
    note: str | None = None,
) -> bool:
    """Give back what one unlock cost if it is within the refund window, once
    per unlock (the key is the unlock's, as for a graveyard refund). Returns
    whether it was in the window."""
    if unlock.cost <= 0 or unlock.created_at < now - timedelta(
        days=rules.refund_window_days
    ):
        return False
    ledger.record(
        session,
        unlock.member_id,
        unlock.cost,
        EntryKind.REFUND,
        f"refund:unlock:{unlock.id}",
        reference=unlock,
        note=note,
    )
    return True
