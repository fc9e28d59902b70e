"""The SQLAlchemy models. Import from here; each area's models live beside it."""

from portal.models.accounts import Member, MemberSession, Organisation, Role
from portal.models.audit import AuditEntry
from portal.models.billing import (
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    InvoiceState,
    PurchaseLot,
)
from portal.models.contributions import (
    ConfirmationSource,
    ContactConfirmation,
    ContactLookup,
    ContributionFile,
    ContributionRow,
    FileState,
    LookupChannel,
    Revision,
    RevisionKind,
    RevisionSource,
    RowOutcome,
)
from portal.models.directory import Company, CompanyDomain, Contact, ContactState
from portal.models.jobs import JobRun, JobState
from portal.models.ledger import EntryKind, EntryState, LedgerEntry, PointBalance
from portal.models.metrics import ContactStateCount, DailyMetric
from portal.models.moderation import Flag, FlagKind, FlagSource, FlagState
from portal.models.outbox import OutboxMessage, OutboxState
from portal.models.privacy import (
    Attribution,
    ContactNotice,
    MemberPreferences,
    NoticeState,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestState,
    SuppressionEntry,
    SuppressionFile,
)
from portal.models.reveals import Disclosure, DisclosureChannel, Unlock
from portal.models.search import (
    SearchNumber,
    SearchScratch,
    SearchTerm,
    SearchVariant,
    SearchWord,
)
from portal.models.tokens import OneTimeToken

__all__ = [
    "Attribution",
    "AuditEntry",
    "ContactNotice",
    "MemberPreferences",
    "NoticeState",
    "PrivacyRequest",
    "PrivacyRequestKind",
    "PrivacyRequestState",
    "SuppressionFile",
    "Company",
    "ContactStateCount",
    "DailyMetric",
    "Disclosure",
    "DisclosureChannel",
    "CompanyDomain",
    "ConfirmationSource",
    "Contact",
    "ContactConfirmation",
    "ContactLookup",
    "ContactState",
    "ContributionFile",
    "ContributionRow",
    "EntryKind",
    "EntryState",
    "FileState",
    "Flag",
    "FlagKind",
    "FlagSource",
    "FlagState",
    "Invoice",
    "InvoiceLine",
    "InvoiceSequence",
    "InvoiceState",
    "JobRun",
    "JobState",
    "LedgerEntry",
    "LookupChannel",
    "Member",
    "MemberSession",
    "OneTimeToken",
    "Organisation",
    "OutboxMessage",
    "OutboxState",
    "PointBalance",
    "PurchaseLot",
    "Revision",
    "RevisionKind",
    "RevisionSource",
    "Role",
    "RowOutcome",
    "SearchNumber",
    "SearchScratch",
    "SearchTerm",
    "SearchVariant",
    "SearchWord",
    "SuppressionEntry",
    "Unlock",
]
