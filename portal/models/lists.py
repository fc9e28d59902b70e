"""Enterprise match lists: an organisation's uploaded file, its rows and results,
the chunks its match run is cut into, its quote and its delivery."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, text_enum, utcnow


class ListState(enum.StrEnum):
    UPLOADED = "uploaded"
    MAPPING = "mapping"
    MATCHING = "matching"
    QUOTED = "quoted"
    ACCEPTED = "accepted"
    MERGING = "merging"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    FAILED = "failed"


class ListFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class RefreshInterval(enum.StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class ChunkState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


class MatchList(db.Model):
    """A customer file. The file itself lives under ``instance/lists/<id>/``,
    outside the web root; ``files_deleted_at`` is set when retention removed
    it (the counts, quote and invoice stay)."""

    __tablename__ = "match_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id"), index=True
    )
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[ListFormat] = mapped_column(text_enum(ListFormat, "list_format"))
    state: Mapped[ListState] = mapped_column(
        text_enum(ListState, "list_state"), default=ListState.MAPPING
    )
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    # The heading row as read, and its fingerprint: the organisation's last
    # confirmed mapping is proposed again for a file with the same headings.
    headings: Mapped[list[str]] = mapped_column(JSON, default=list)
    headings_signature: Mapped[str] = mapped_column(String(64))
    # Column index (as text, JSON keys) -> field, once confirmed.
    mapping: Mapped[dict[str, str] | None] = mapped_column(JSON)
    mapping_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Counts per status and per field status, written when matching ends.
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    matched_rows: Mapped[int] = mapped_column(Integer, default=0)
    delivered_records: Mapped[int] = mapped_column(Integer, default=0)
    # The quote: its lines (JSON, see portal.lists.pricing), total, currency.
    quote_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    quote_total: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    quote_currency: Mapped[str | None] = mapped_column(String(3))
    quoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    quote_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    match_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    merge_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    # Why the list failed, in words for the member.
    message: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    files_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A refresh schedule lives on the latest list of its chain: the refresh
    # re-matches this list's delivered file as a new list, which takes the
    # schedule over. A quote at most ``refresh_price_cap`` is accepted at once.
    refresh_interval: Mapped[RefreshInterval | None] = mapped_column(
        text_enum(RefreshInterval, "refresh_interval")
    )
    refresh_price_cap: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    next_refresh_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("match_lists.id", ondelete="SET NULL")
    )

    organisation = relationship("Organisation")
    uploaded_by = relationship("Member", foreign_keys=[uploaded_by_id])
    match_run = relationship("JobRun", foreign_keys=[match_run_id])
    merge_run = relationship("JobRun", foreign_keys=[merge_run_id])
    invoice = relationship("Invoice", foreign_keys=[invoice_id])

    __table_args__ = (
        Index("ix_match_lists_org_signature", "organisation_id", "headings_signature"),
    )

    @property
    def match_rate(self) -> float | None:
        if not self.summary or not self.row_count:
            return None
        return self.matched_rows / self.row_count


class MatchListRow(db.Model):
    """One data row of a list and its outcome. ``values`` are the mapped
    fields as the customer sent them; ``ours`` our values of the compared
    fields (what the merge writes); ``fields`` the per-field statuses."""

    __tablename__ = "match_list_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("match_lists.id", ondelete="CASCADE")
    )
    # Position among the data rows (0-based) and the spreadsheet row number.
    position: Mapped[int] = mapped_column(Integer)
    row_number: Mapped[int] = mapped_column(Integer)
    record_id: Mapped[str] = mapped_column(String(255), default="")
    values: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(300), default="")
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    fields: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    ours: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Comma-separated field:status pairs, for filtering by a field status.
    field_key: Mapped[str] = mapped_column(String(200), default="")
    disputed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("list_id", "position"),
        Index("ix_match_list_rows_list_status", "list_id", "status"),
    )


class MatchListChunk(db.Model):
    """A slice of a list's rows that one worker matches. A worker claims it
    with a conditional update; a claim held by a run that stopped answering
    is taken over after ``LIST_CHUNK_STALE_SECONDS``."""

    __tablename__ = "match_list_chunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("match_lists.id", ondelete="CASCADE"), index=True
    )
    match_run_id: Mapped[int] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(Integer)
    stop: Mapped[int] = mapped_column(Integer)
    state: Mapped[ChunkState] = mapped_column(
        text_enum(ChunkState, "chunk_state"), default=ChunkState.PENDING
    )
    claimed_by_run_id: Mapped[int | None] = mapped_column(Integer)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("list_id", "match_run_id", "start"),)


class PoolingConsent(db.Model):
    """An organisation admin's pooling choice, in or out: who, when, and the
    wording they were shown. The latest row is the choice in force (and
    ``Organisation.pooling_opt_in`` mirrors it)."""

    __tablename__ = "pooling_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id"), index=True
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    opted_in: Mapped[bool] = mapped_column(Boolean)
    wording: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    member = relationship("Member")
