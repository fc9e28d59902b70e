"""Privacy requests: each thing a person asks is recorded with its state,
its due date (received + ``PRIVACY_DUE_DAYS``) and what was done.

The clear email stays on a request only while it is open; completing or
denying it keeps just the keyed hash. Functions flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from portal.models import PrivacyRequest, PrivacyRequestKind, PrivacyRequestState
from portal.suppression import email_hash

DEFAULT_DUE_DAYS = 30


class RequestClosed(ValueError):
    """The request was completed, denied or canceled before."""


def open_request(
    session: Session,
    kind: PrivacyRequestKind,
    email: str,
    *,
    key: str,
    now: datetime,
    state: PrivacyRequestState = PrivacyRequestState.PENDING,
    contact_id: int | None = None,
    details: dict[str, Any] | None = None,
    due_days: int = DEFAULT_DUE_DAYS,
) -> PrivacyRequest:
    """Record a request received ``now``, due ``due_days`` later."""
    request = PrivacyRequest(
        kind=kind,
        state=state,
        email=email,
        email_hash=email_hash(key, email),
        contact_id=contact_id,
        details=details or {},
        received_at=now,
        due_at=now + timedelta(days=due_days),
    )
    session.add(request)
    session.flush()
    return request


def _close(
    request: PrivacyRequest,
    state: PrivacyRequestState,
    outcome: str,
    now: datetime,
    decided_by_id: int | None,
) -> PrivacyRequest:
    if not request.state.open:
        raise RequestClosed(f"Request {request.id} is already {request.state.label}.")
    request.state = state
    request.outcome = outcome
    request.completed_at = now
    request.decided_by_id = decided_by_id
    # From here on only the keyed hash says whose request it was.
    request.email = None
    return request


def complete_request(
    request: PrivacyRequest,
    outcome: str,
    now: datetime,
    *,
    decided_by_id: int | None = None,
) -> PrivacyRequest:
    """Mark ``request`` complete with what was done. Raises ``RequestClosed``."""
    return _close(request, PrivacyRequestState.COMPLETE, outcome, now, decided_by_id)


def deny_request(
    request: PrivacyRequest, reason: str, now: datetime, *, decided_by_id: int
) -> PrivacyRequest:
    """Deny ``request`` with a reason. Raises ``RequestClosed`` or ``ValueError``
    for an empty reason."""
    if not reason.strip():
        raise ValueError("Give the reason for denying the request.")
    return _close(
        request, PrivacyRequestState.DENIED, reason.strip(), now, decided_by_id
    )


def record_completed(
    session: Session,
    kind: PrivacyRequestKind,
    email: str,
    outcome: str,
    *,
    key: str,
    now: datetime,
    contact_id: int | None = None,
    details: dict[str, Any] | None = None,
    due_days: int = DEFAULT_DUE_DAYS,
) -> PrivacyRequest:
    """A request the person's own action answered at once (self-service)."""
    request = open_request(
        session,
        kind,
        email,
        key=key,
        now=now,
        contact_id=contact_id,
        details=details,
        due_days=due_days,
    )
    return complete_request(request, outcome, now)


def requests_for(session: Session, key: str, email: str) -> list[PrivacyRequest]:
    """The person's requests, newest first."""
    return list(
        session.scalars(
            select(PrivacyRequest)
            .where(PrivacyRequest.email_hash == email_hash(key, email))
            .order_by(PrivacyRequest.received_at.desc(), PrivacyRequest.id.desc())
        )
    )


def admin_queue(now: datetime, *, show: str = "open") -> Select:
    """Requests for the admin list: open ones with the overdue first (then by
    due date), or every request (``show="all"``) newest first."""
    open_states = [s for s in PrivacyRequestState if s.open]
    statement = select(PrivacyRequest)
    if show == "open":
        overdue = case((PrivacyRequest.due_at < now, 0), else_=1)
        return statement.where(PrivacyRequest.state.in_(open_states)).order_by(
            overdue, PrivacyRequest.due_at, PrivacyRequest.id
        )
    return statement.order_by(PrivacyRequest.received_at.desc(), PrivacyRequest.id)


def overdue_count(session: Session, now: datetime) -> int:
    """How many open requests are past their due date."""
    open_states = [s for s in PrivacyRequestState if s.open]
    return session.scalar(
        select(func.count(PrivacyRequest.id)).where(
            PrivacyRequest.state.in_(open_states), PrivacyRequest.due_at < now
        )
    )
