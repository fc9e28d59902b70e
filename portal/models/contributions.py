"""Revisions (who changed what on a contact, and how), confirmations, and the
CSV files members contribute in bulk."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, text_enum, utcnow


class RevisionKind(enum.StrEnum):
    # The contact was created by this revision.
    CONTRIBUTION = "contribution"
    UPDATE = "update"
    MERGE = "merge"
    CORRECTION = "correction"


class RevisionSource(enum.StrEnum):
    """How the change reached Tessera: the "how" of field-level provenance."""

    FORM = "form"
    CSV = "csv"
    MERGE = "merge"
    MODERATOR = "moderator"
    SUBJECT = "subject"
    OPERATOR_IMPORT = "operator_import"
    # Generated sample contacts (portal dev, portal seed, the benchmarks).
    DEMO_DATA = "demo_data"

    @property
    def label(self) -> str:
        return {
            "form": "Added on the form",
            "csv": "Uploaded in a CSV",
            "merge": "Merged",
            "moderator": "Edited by a moderator",
            "subject": "Corrected by the person",
            "operator_import": "Imported by Tessera",
            "demo_data": "Demo data",
        }[self.value]


class Revision(db.Model):
    """One change to a contact. ``fields`` holds the values it set, so the
    revision that set a field's current value is its provenance."""

    __tablename__ = "contact_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Erasing a contact erases its history too: revisions hold its details.
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE")
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    kind: Mapped[RevisionKind] = mapped_column(text_enum(RevisionKind, "revision_kind"))
    source: Mapped[RevisionSource] = mapped_column(
        text_enum(RevisionSource, "revision_source")
    )
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attestation: Mapped[str | None] = mapped_column(Text)
    contribution_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("contribution_files.id", ondelete="SET NULL")
    )
    # A keyed hash of the contributor's IP (never the IP itself): tells a
    # confirmation from the same place apart from an independent one.
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True
    )

    member = relationship("Member")

    __table_args__ = (
        Index("ix_contact_revisions_contact", "contact_id", "id"),
        Index("ix_contact_revisions_member_created", "member_id", "created_at"),
    )


class LookupChannel(enum.StrEnum):
    FORM = "form"
    CSV = "csv"
    UPDATE = "update"
    LIVE = "live"


class ContactLookup(db.Model):
    """An answer that told a member a person or an email is known ("already
    known", a duplicate or updated CSV row, a likely duplicate shown while
    typing). The daily limit on such answers counts these rows; those that
    wrote no revision also count against the tier's daily cap."""

    __tablename__ = "contact_lookups"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    channel: Mapped[LookupChannel] = mapped_column(
        text_enum(LookupChannel, "lookup_channel")
    )
    # The revision the answer came with (an update), if it wrote one.
    revision_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_revisions.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_contact_lookups_member_created", "member_id", "created_at"),
    )


class ConfirmationSource(enum.StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"
    SUBJECT = "subject"


class ContactConfirmation(db.Model):
    """Someone other than the contributor says a contact is still current."""

    __tablename__ = "contact_confirmations"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    source: Mapped[ConfirmationSource] = mapped_column(
        text_enum(ConfirmationSource, "confirmation_source")
    )
    # A keyed hash of the confirmer's IP, as on revisions.
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FileState(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    # Processed; some rows are held for a moderator.
    PENDING_REVIEW = "pending_review"
    COMPLETED = "completed"
    # The job failed; it can be retried.
    ERROR = "error"
    # The file itself was refused (not a CSV, headings missing, too many rows).
    REJECTED = "rejected"


class RowOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    UPDATED = "updated"
    DUPLICATE = "duplicate"
    HELD = "held"
    REFUSED = "refused"


class ContributionFile(db.Model):
    """A CSV of contacts a member contributed in bulk, and its report."""

    __tablename__ = "contribution_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    # The upload itself (at most a few MB); the job reads it from here.
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    attestation: Mapped[str] = mapped_column(Text)
    # A keyed hash of the uploader's IP, given to the revisions it creates.
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[FileState] = mapped_column(
        text_enum(FileState, "contribution_file_state"), default=FileState.IN_PROGRESS
    )
    message: Mapped[str | None] = mapped_column(Text)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    job_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    job_run = relationship("JobRun")


class ContributionRow(db.Model):
    """One row of a contributed file and what became of it. Keyed by
    (file, row number) so processing the file again replaces, never appends."""

    __tablename__ = "contribution_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(
        ForeignKey("contribution_files.id", ondelete="CASCADE")
    )
    row_number: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[RowOutcome] = mapped_column(text_enum(RowOutcome, "row_outcome"))
    reason: Mapped[str | None] = mapped_column(Text)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    values: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    __table_args__ = (UniqueConstraint("file_id", "row_number"),)
