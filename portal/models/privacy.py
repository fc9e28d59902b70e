"""The privacy center's records: the suppression list (people who asked not
to be listed, kept without any clear-text personal data), privacy requests,
the notices owed to the people listed, bulk suppression files, and members'
consent choices."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, text_enum, utcnow


class SuppressionEntry(db.Model):
    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Keyed HMAC-SHA256 (hex) of the normalised business email.
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # Keyed HMAC-SHA256 of the normalised (first name, last name, company domain).
    name_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PrivacyRequestKind(enum.StrEnum):
    ACCESS = "access"
    CORRECT = "correct"
    # Opt out: stop processing (the contact is deleted and suppressed, as erase).
    OBJECT = "object"
    ERASE = "erase"
    CONFIRM = "confirm"

    @property
    def label(self) -> str:
        return {
            "access": "See the data",
            "correct": "Correct a detail",
            "object": "Object (opt out)",
            "erase": "Erase",
            "confirm": "Confirm it is accurate",
        }[self.value]


class PrivacyRequestState(enum.StrEnum):
    IDENTITY_UNVERIFIED = "identity_unverified"
    PENDING = "pending"
    IN_PROCESSING = "in_processing"
    COMPLETE = "complete"
    DENIED = "denied"
    CANCELED = "canceled"

    @property
    def open(self) -> bool:
        return self in (
            PrivacyRequestState.IDENTITY_UNVERIFIED,
            PrivacyRequestState.PENDING,
            PrivacyRequestState.IN_PROCESSING,
        )

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class PrivacyRequest(db.Model):
    """Something a person asked about the data held on them (SPEC 2 and 7).

    The clear email is kept only while the request is open (to answer it);
    from completion on only ``email_hash`` (the suppression list's keyed HMAC)
    remains, so requests can still be counted per person.
    """

    __tablename__ = "privacy_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[PrivacyRequestKind] = mapped_column(
        text_enum(PrivacyRequestKind, "privacy_request_kind")
    )
    state: Mapped[PrivacyRequestState] = mapped_column(
        text_enum(PrivacyRequestState, "privacy_request_state"), index=True
    )
    email: Mapped[str | None] = mapped_column(String(254))
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    # The contact it is about while that exists (an erased one is gone).
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    # What was asked (e.g. the field to correct); never the erased values.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What was done, or why it was denied, in words an admin and the person read.
    outcome: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )


class NoticeState(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"


class ContactNotice(db.Model):
    """The Art 14 notice owed to a contact once it is active: queued when it
    first becomes active (by any path), sent in batches by the notice job,
    and kept as the log of when the person was told. Deleted with the
    contact (an erased person leaves nothing behind)."""

    __tablename__ = "contact_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[NoticeState] = mapped_column(
        text_enum(NoticeState, "notice_state"), default=NoticeState.QUEUED
    )
    # How the contact came in: "member", "operator_import", "customer_list"...
    source: Mapped[str] = mapped_column(String(40))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outbox_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )

    __table_args__ = (Index("ix_contact_notices_state_id", "state", "id"),)


class SuppressionFile(db.Model):
    """A file of SHA-256 hashes of normalised emails an admin uploaded (as
    deletion platforms send them), and what its job did."""

    __tablename__ = "suppression_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    # The hashes read from the file (lower-case hex), until the job ran.
    hashes: Mapped[list[str] | None] = mapped_column(JSON)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    hashes_read: Mapped[int] = mapped_column(Integer, default=0)
    invalid_lines: Mapped[int] = mapped_column(Integer, default=0)
    new_entries: Mapped[int] = mapped_column(Integer, default=0)
    contacts_removed: Mapped[int | None] = mapped_column(Integer)
    job_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    job_run = relationship("JobRun")


class Attribution(enum.StrEnum):
    PSEUDONYM = "pseudonym"
    DISPLAY_NAME = "display_name"


class MemberPreferences(db.Model):
    """A member's consent choices (``/account/consent``); no row: the defaults."""

    __tablename__ = "member_preferences"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    attribution: Mapped[Attribution] = mapped_column(
        text_enum(Attribution, "attribution"), default=Attribution.PSEUDONYM
    )
    notify_royalties: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_challenges: Mapped[bool] = mapped_column(Boolean, default=True)
    weekly_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
