"""The SQLAlchemy models. Import from here; each area's models live beside it."""

from portal.models.accounts import Member, MemberSession, Organisation, Role
from portal.models.audit import AuditEntry
from portal.models.directory import Company, CompanyDomain, Contact, ContactState
from portal.models.jobs import JobRun, JobState
from portal.models.ledger import EntryKind, EntryState, LedgerEntry, PointBalance
from portal.models.outbox import OutboxMessage, OutboxState

__all__ = [
    "AuditEntry",
    "Company",
    "CompanyDomain",
    "Contact",
    "EntryKind",
    "EntryState",
    "ContactState",
    "JobRun",
    "JobState",
    "LedgerEntry",
    "Member",
    "MemberSession",
    "Organisation",
    "OutboxMessage",
    "OutboxState",
    "PointBalance",
    "Role",
]
