"""The audit log: one function writes every entry."""

from __future__ import annotations

from typing import Any

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
