"""Invoices, their lines and numbers, and the lots of purchased points."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, text_enum, utcnow

MONEY = Numeric(12, 2)


class InvoiceState(enum.StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


class Invoice(db.Model):
    """A bill to one member or one organisation.

    A draft has no number; issuing gives it the next number of its year. Only
    ``portal.billing.invoices`` changes the state, through its legal
    transitions (draft -> issued -> paid; draft or issued -> void).
    """

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    state: Mapped[InvoiceState] = mapped_column(
        text_enum(InvoiceState, "invoice_state"), default=InvoiceState.DRAFT
    )
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(MONEY)
    # Purchased points credited when the invoice is paid (0: nothing to credit).
    points: Mapped[int] = mapped_column(Integer, default=0)
    provider: Mapped[str] = mapped_column(String(20), default="manual")
    # What the invoice bills for, when another area raises it (e.g. a list
    # delivery): one invoice per source, so a retried job cannot bill twice.
    source_type: Mapped[str | None] = mapped_column(String(40))
    source_id: Mapped[int | None] = mapped_column(Integer)
    payment_reference: Mapped[str | None] = mapped_column(String(100))
    void_reason: Mapped[str | None] = mapped_column(String(300))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position"
    )
    member = relationship("Member", foreign_keys=[member_id])
    organisation = relationship("Organisation")

    __table_args__ = (
        CheckConstraint(
            "(member_id IS NULL) <> (organisation_id IS NULL)",
            name="one_recipient",
        ),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("points >= 0", name="points_not_negative"),
        Index("ix_invoices_state_created", "state", "created_at"),
        UniqueConstraint("source_type", "source_id"),
    )

    @property
    def recipient_label(self) -> str:
        if self.organisation is not None:
            return self.organisation.name
        return self.member.display_name if self.member is not None else "—"

    @property
    def label(self) -> str:
        return self.number or f"Draft {self.id}"


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    points_per_unit: Mapped[int] = mapped_column(Integer, default=0)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("points_per_unit >= 0", name="points_not_negative"),
    )

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def points(self) -> int:
        return self.points_per_unit * self.quantity


class InvoiceSequence(db.Model):
    """The last invoice number handed out in a year: numbers are sequential
    without gaps because the counter moves in the issuing transaction."""

    __tablename__ = "invoice_sequences"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class PurchaseLot(db.Model):
    """Points a member bought, with the date they expire.

    The expiry date is fixed when the points are credited, so changing the
    configured lifetime later does not move earlier promises. How much of a
    lot is left is not stored: ``portal.billing.expiry`` works it out from the
    ledger. ``expired_at`` marks a lot the expiry job has settled.
    """

    __tablename__ = "purchase_lots"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    points: Mapped[int] = mapped_column(Integer)
    purchased_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_points: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        Index("ix_purchase_lots_due", "expired_at", "expires_at"),
    )
