"""Running members: find them, change their role, suspend or reinstate them.

Each change is one transaction with its audit entry; suspension also revokes
every live session at once (the next request of a suspended member is
anonymous). The caller emails the member the reason inside the same
transaction. An admin cannot demote or suspend themselves, so the last admin
cannot lock everyone out by a slip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from portal.audit import record_audit
from portal.models import Member, MemberSession, Organisation, Role
from portal.models.accounts import MemberStatus
from portal.models.base import utcnow


class MemberChangeRefused(ValueError):
    """The change is not allowed; the message says why, for the admin."""


@dataclass(frozen=True)
class MemberFilter:
    """What the members list is narrowed to; None leaves a criterion out.

    ``text`` matches part of the email, display name or pseudonym, ignoring
    case; ``organisation_id`` 0 means members of no organisation."""

    text: str | None = None
    role: Role | None = None
    status: MemberStatus | None = None
    organisation_id: int | None = None


def members_query(filters: MemberFilter) -> Select:
    """Members matching ``filters``, newest first."""
    query = select(Member).order_by(Member.created_at.desc(), Member.id.desc())
    if filters.text:
        pattern = f"%{_escape_like(filters.text.strip().lower())}%"
        query = query.where(
            or_(
                func.lower(Member.email).like(pattern, escape="\\"),
                func.lower(Member.display_name).like(pattern, escape="\\"),
                func.lower(Member.pseudonym).like(pattern, escape="\\"),
            )
        )
    if filters.role is not None:
        query = query.where(Member.role == filters.role)
    if filters.status is not None:
        query = query.where(Member.status == filters.status)
    if filters.organisation_id == 0:
        query = query.where(Member.organisation_id.is_(None))
    elif filters.organisation_id is not None:
        query = query.where(Member.organisation_id == filters.organisation_id)
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.name)))


def live_sessions(session: Session, member: Member) -> list[MemberSession]:
    """The member's logins that still load them, newest first."""
    return list(
        session.scalars(
            select(MemberSession)
            .where(
                MemberSession.member_id == member.id,
                MemberSession.revoked_at.is_(None),
            )
            .order_by(MemberSession.created_at.desc())
        )
    )


def _revoke_sessions(session: Session, member: Member, now: datetime) -> int:
    revoked = 0
    for login in live_sessions(session, member):
        login.revoked_at = now
        revoked += 1
    session.flush()
    return revoked


def _lock(session: Session, member_id: int) -> Member:
    """The member row, locked for this transaction where the database can
    (PostgreSQL); SQLite's writes are serialised already."""
    member = session.scalar(
        select(Member).where(Member.id == member_id).with_for_update()
    )
    if member is None:
        raise MemberChangeRefused("That member no longer exists.")
    return member


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise MemberChangeRefused("Say why; the member and the audit log see it.")
    return reason[:500]


def change_role(
    session: Session, member_id: int, role: Role, *, actor: Member, ip: str | None
) -> Member:
    member = _lock(session, member_id)
    if member.id == actor.id and role != member.role:
        raise MemberChangeRefused("You cannot change your own role.")
    if member.role == role:
        return member
    previous = member.role
    member.role = role
    record_audit(
        "member.role_changed",
        actor=actor,
        target=member,
        details={"from": previous.value, "to": role.value},
        ip=ip,
        session=session,
    )
    return member


def suspend(
    session: Session, member_id: int, reason: str, *, actor: Member, ip: str | None
) -> int:
    """Suspend the member and revoke every session now.

    Returns how many sessions were revoked."""
    reason = _reason(reason)
    member = _lock(session, member_id)
    if member.id == actor.id:
        raise MemberChangeRefused("You cannot suspend yourself.")
    if member.status == MemberStatus.SUSPENDED:
        raise MemberChangeRefused(f"{member.email} is already suspended.")
    member.status = MemberStatus.SUSPENDED
    revoked = _revoke_sessions(session, member, utcnow())
    record_audit(
        "member.suspended",
        actor=actor,
        target=member,
        details={"reason": reason, "sessions_revoked": revoked},
        ip=ip,
        session=session,
    )
    return revoked


def reinstate(
    session: Session, member_id: int, reason: str, *, actor: Member, ip: str | None
) -> Member:
    reason = _reason(reason)
    member = _lock(session, member_id)
    if member.status == MemberStatus.ACTIVE:
        raise MemberChangeRefused(f"{member.email} is not suspended.")
    member.status = MemberStatus.ACTIVE
    record_audit(
        "member.reinstated",
        actor=actor,
        target=member,
        details={"reason": reason},
        ip=ip,
        session=session,
    )
    return member
