"""The audit log: one function writes every entry."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import AuditEntry, Member


def record_audit(
    action: str,
    *,
    actor: Member | None,
    target: Any = None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
    session: Session | None = None,
) -> AuditEntry:
    """Append an audit entry for ``action`` by ``actor`` (None: the system).

    ``target`` is a model instance (its table and id are recorded) or None.
    Entries are never updated or deleted; see ``AuditEntry``. ``session``
    defaults to the request's; pass another to audit inside its transaction.
    """
    session = session or db.session
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        actor_label=actor.email if actor is not None else "system",
        action=action,
        target_type=getattr(target, "__tablename__", None),
        target_id=str(target.id) if target is not None else None,
        details=details or {},
        ip=ip,
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """What the audit log is narrowed to; None leaves a criterion out.

    ``actor`` matches part of the actor's email ("system" for the system),
    ignoring case; ``start`` is inclusive and ``end`` exclusive."""

    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def audit_entries(filters: AuditFilter) -> Select:
    """The entries matching ``filters``, newest first."""
    statement = select(AuditEntry).order_by(
        AuditEntry.created_at.desc(), AuditEntry.id.desc()
    )
    if filters.actor:
        statement = statement.where(
            AuditEntry.actor_label.icontains(filters.actor, autoescape=True)
        )
    if filters.action:
        statement = statement.where(AuditEntry.action == filters.action)
    if filters.target_type:
        statement = statement.where(AuditEntry.target_type == filters.target_type)
    if filters.target_id:
        statement = statement.where(AuditEntry.target_id == filters.target_id)
    if filters.start:
        statement = statement.where(AuditEntry.created_at >= filters.start)
    if filters.end:
        statement = statement.where(AuditEntry.created_at < filters.end)
    return statement


def audit_vocabulary(session: Session) -> tuple[list[str], list[str]]:
    """The actions and target types that occur in the log, sorted, for filters."""
    actions = session.scalars(select(AuditEntry.action).distinct()).all()
    types = session.scalars(
        select(AuditEntry.target_type)
        .where(AuditEntry.target_type.is_not(None))
        .distinct()
    ).all()
    return sorted(actions), sorted(types)


AUDIT_CSV_HEADER = (
    "when",
    "actor",
    "action",
    "target_type",
    "target_id",
    "ip",
    "details",
)


def audit_csv_rows(entries: Iterable[AuditEntry]) -> Iterator[tuple]:
    """One CSV row per entry, in ``AUDIT_CSV_HEADER``'s order (details as JSON)."""
    for entry in entries:
        yield (
            entry.created_at.isoformat(),
            entry.actor_label,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.ip,
            json.dumps(entry.details, sort_keys=True, ensure_ascii=False),
        )
