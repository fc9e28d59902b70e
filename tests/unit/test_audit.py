"""The audit log is append-only, in the ORM and in the database itself."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError

from portal.audit import record_audit
from portal.models import AuditEntry
from portal.models.audit import AppendOnlyError


def test_record_audit_writes_an_entry(db, make_member):
    """An entry keeps actor, action, target, details and IP."""
    member = make_member(email="aud@northwind.example")
    record_audit(
        "member.suspended",
        actor=member,
        target=member,
        details={"reason": "spam"},
        ip="203.0.113.9",
    )
    db.session.commit()
    entry = db.session.scalar(select(AuditEntry))
    assert (entry.actor_id, entry.actor_label, entry.action) == (
        member.id,
        "aud@northwind.example",
        "member.suspended",
    )
    assert (entry.target_type, entry.target_id) == ("members", str(member.id))
    assert entry.details == {"reason": "spam"} and entry.ip == "203.0.113.9"


def test_orm_refuses_to_change_an_entry(db):
    """Changing or deleting an entry through the ORM raises."""
    entry = record_audit("system.check", actor=None)
    db.session.commit()
    entry.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEntry).values(action="rewritten"),
        delete(AuditEntry),
    ],
    ids=["update", "delete"],
)
def test_database_refuses_to_change_an_entry(db, statement):
    """Even SQL that bypasses the ORM cannot rewrite or remove an entry."""
    record_audit("system.check", actor=None)
    db.session.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(statement)
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(select(AuditEntry.action)) == "system.check"
    assert db.session.scalar(text("SELECT count(*) FROM audit_entries")) == 1
