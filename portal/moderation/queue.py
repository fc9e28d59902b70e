"""The moderation queue: which items are waiting, in what order, who holds
them, and claiming (one moderator per item, decided by the database).

Items are the open and claimed flags, most urgent first: lower priority
number (people's disputes first), then the earlier due date. A claim is one
conditional UPDATE, so two moderators claiming at once cannot both win.
Services only: they flush, the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from portal.models import (
    Contact,
    Flag,
    FlagKind,
    FlagSource,
    FlagState,
    Member,
    Revision,
    Role,
)

UNRESOLVED = FlagState.unresolved_states()
OWN_ITEM = (
    "This item is about your own contribution or report: another moderator has "
    "to decide it."
)
# Age filters: flags opened more than this many days ago.
AGE_CHOICES = (1, 3, 7, 14)


class ClaimRefused(Exception):
    """The item cannot be claimed or released; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class QueueFilter:
    """What the queue is narrowed to; None leaves a criterion out.

    ``assignee`` is ``"me"``, ``"nobody"`` or a member id as text;
    ``older_than_days`` keeps items opened more than that many days ago."""

    kind: FlagKind | None = None
    source: FlagSource | None = None
    state: FlagState | None = None
    older_than_days: int | None = None
    assignee: str | None = None

    @classmethod
    def from_args(cls, args) -> QueueFilter:
        """Read the filters from query arguments, ignoring values that are
        not choices (a stale bookmark still opens the queue)."""

        def choice(enum_class, raw):
            try:
                return enum_class(raw) if raw else None
            except ValueError:
                return None

        state = choice(FlagState, args.get("state"))
        age = args.get("age") or ""
        assignee = args.get("assignee") or None
        if assignee not in (None, "me", "nobody") and not assignee.isdigit():
            assignee = None
        return cls(
            kind=choice(FlagKind, args.get("kind")),
            source=choice(FlagSource, args.get("source")),
            state=state if state in UNRESOLVED else None,
            older_than_days=int(age)
            if age.isdigit() and int(age) in AGE_CHOICES
            else None,
            assignee=assignee,
        )

    def as_args(self) -> dict[str, str]:
        """The filters as query arguments (for links that keep them)."""
        values = {
            "kind": self.kind.value if self.kind else None,
            "source": self.source.value if self.source else None,
            "state": self.state.value if self.state else None,
            "age": str(self.older_than_days) if self.older_than_days else None,
            "assignee": self.assignee,
        }
        return {name: value for name, value in values.items() if value}


def queue_items(filters: QueueFilter, moderator_id: int, now: datetime) -> Select:
    """The unresolved flags matching ``filters``, most urgent first."""
    statement = select(Flag).where(Flag.state.in_(UNRESOLVED))
    if filters.kind is not None:
        statement = statement.where(Flag.kind == filters.kind)
    if filters.source is not None:
        statement = statement.where(Flag.source == filters.source)
    if filters.state is not None:
        statement = statement.where(Flag.state == filters.state)
    if filters.older_than_days is not None:
        statement = statement.where(
            Flag.created_at < now - timedelta(days=filters.older_than_days)
        )
    if filters.assignee == "me":
        statement = statement.where(
            Flag.state == FlagState.CLAIMED, Flag.moderator_id == moderator_id
        )
    elif filters.assignee == "nobody":
        statement = statement.where(Flag.state == FlagState.OPEN)
    elif filters.assignee is not None:
        statement = statement.where(
            Flag.state == FlagState.CLAIMED, Flag.moderator_id == int(filters.assignee)
        )
    return statement.order_by(Flag.priority, Flag.due_at, Flag.id)


@dataclass(frozen=True)
class KindCount:
    kind: FlagKind
    waiting: int
    overdue: int


def counts_by_kind(session: Session, now: datetime) -> list[KindCount]:
    """Unresolved items per kind (and how many are overdue), every kind listed."""
    rows = session.execute(
        select(
            Flag.kind,
            func.count(),
            func.count().filter(Flag.due_at < now),
        )
        .where(Flag.state.in_(UNRESOLVED))
        .group_by(Flag.kind)
    ).all()
    found = {kind: (waiting, overdue) for kind, waiting, overdue in rows}
    return [KindCount(kind, *found.get(kind, (0, 0))) for kind in FlagKind]


def assignees(session: Session) -> list[Member]:
    """Moderators who hold at least one item, for the assignee filter."""
    holders = select(Flag.moderator_id).where(Flag.state == FlagState.CLAIMED)
    return list(
        session.scalars(
            select(Member).where(Member.id.in_(holders)).order_by(Member.display_name)
        )
    )


def claim(session: Session, flag_id: int, moderator: Member, now: datetime) -> Flag:
    """Give the open item ``flag_id`` to ``moderator``; claiming one's own
    claim again changes nothing. Raises ``ClaimRefused`` when another
    moderator holds it, it is resolved or gone, or it is about the
    moderator's own contribution or report."""
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise ClaimRefused("This item no longer exists.")
    if moderator.id in involved_members(session, flag):
        raise ClaimRefused(OWN_ITEM)
    taken = session.execute(
        update(Flag)
        .where(Flag.id == flag_id, Flag.state == FlagState.OPEN)
        .values(state=FlagState.CLAIMED, moderator_id=moderator.id, claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(flag)
    if taken or (flag.state == FlagState.CLAIMED and flag.moderator_id == moderator.id):
        return flag
    raise ClaimRefused(holder_message(flag))


def release(session: Session, flag_id: int, moderator: Member) -> Flag:
    """Put a claimed item back in the queue: its holder may, and so may an
    admin. Raises ``ClaimRefused`` otherwise."""
    conditions = [Flag.id == flag_id, Flag.state == FlagState.CLAIMED]
    if moderator.role != Role.ADMIN:
        conditions.append(Flag.moderator_id == moderator.id)
    released = session.execute(
        update(Flag)
        .where(*conditions)
        .values(state=FlagState.OPEN, moderator_id=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    flag = session.get(Flag, flag_id, populate_existing=True)
    if flag is None:
        raise ClaimRefused("This item no longer exists.")
    if released or flag.state == FlagState.OPEN:
        return flag
    raise ClaimRefused(holder_message(flag))


def holder_message(flag: Flag) -> str:
    """Why a moderator cannot take ``flag``: who holds or resolved it."""
    who = flag.moderator.display_name if flag.moderator is not None else "someone"
    if flag.state == FlagState.CLAIMED:
        return f"{who} claimed this item first, at {flag.claimed_at:%H:%M} UTC."
    if flag.state.resolved:
        when = f" on {flag.resolved_at:%-d %b %Y %H:%M} UTC" if flag.resolved_at else ""
        return f"This item was already {flag.state.value} by {who}{when}."
    return "This item is waiting in the queue."


def involved_members(session: Session, flag: Flag) -> set[int]:
    """Members whose work or word the item is about: the contributor of the
    revision at fault, the contact's owner, the member a finding names, and
    the reporter."""
    ids = {flag.member_id, flag.reporter_id}
    if flag.revision_id is not None:
        ids.add(
            session.scalar(
                select(Revision.member_id).where(Revision.id == flag.revision_id)
            )
        )
    if flag.contact_id is not None:
        ids.add(
            session.scalar(
                select(Contact.owner_id).where(Contact.id == flag.contact_id)
            )
        )
    ids.discard(None)
    return ids
