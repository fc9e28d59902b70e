"""Invoices: created as drafts, then issued (numbered), paid or voided.

Legal transitions only: draft -> issued -> paid, and draft or issued -> void.
Each is one conditional UPDATE on the invoice's state, so two requests racing
to pay the same invoice cannot both win: the loser is told the invoice is
already paid and the purchase points are credited once (their ledger keys
``purchase:invoice:<id>:<member id>`` make sure of it as well).

Numbers (``TSR-2026-000123``) are given at issue from a per-year counter that
moves inside the issuing transaction: sequential, unique and without gaps.
Drafts have no number and can be voided without leaving a hole.

Amounts are ``Decimal`` with at most two decimals. Functions flush; run them
in ``ledger.write_transaction()`` (paying one credits points).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.billing import expiry
from portal.billing.plans import PlanError, check_currency, seat_holders
from portal.billing.rules import BillingRules
from portal.dialects import insert_for
from portal.models import (
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    InvoiceState,
    Member,
    Organisation,
    Role,
)
from portal.models.accounts import MemberStatus

CENT = Decimal("0.01")
MAX_QUANTITY = 1_000_000
MAX_DESCRIPTION = 200


class InvoiceError(ValueError):
    """Bad input for an invoice; ``field`` names it (None: the whole form)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvoiceStateError(InvoiceError):
    """The invoice is not in a state that allows the change asked for."""


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: int
    unit_price: Decimal
    points_per_unit: int = 0


def parse_amount(raw: str | Decimal) -> Decimal:
    """A money amount with at most two decimals; raises ``InvoiceError``."""
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise InvoiceError(f"{raw!r} is not an amount.") from exc
    if not amount.is_finite():
        raise InvoiceError(f"{raw!r} is not an amount.")
    if amount != amount.quantize(CENT):
        raise InvoiceError("Amounts have at most two decimals.")
    return amount.quantize(CENT)


def _check_lines(lines: Sequence[LineInput], rules: BillingRules) -> None:
    if not lines:
        raise InvoiceError("An invoice needs at least one line.", "lines")
    if len(lines) > rules.invoice_max_lines:
        raise InvoiceError(
            f"An invoice has at most {rules.invoice_max_lines} lines.", "lines"
        )
    for number, line in enumerate(lines, start=1):
        where = f"Line {number}: "
        if not line.description.strip():
            raise InvoiceError(where + "say what it is for.", "lines")
        if len(line.description) > MAX_DESCRIPTION:
            raise InvoiceError(
                where + f"the description is over {MAX_DESCRIPTION} characters.",
                "lines",
            )
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise InvoiceError(
                where + f"the quantity must be between 1 and {MAX_QUANTITY:,}.",
                "lines",
            )
        if line.unit_price < 0:
            raise InvoiceError(where + "the unit price cannot be negative.", "lines")
        if line.unit_price > rules.invoice_max_total:
            raise InvoiceError(
                where + f"the unit price is over {rules.invoice_max_total:,}.",
                "lines",
            )
        if line.points_per_unit < 0:
            raise InvoiceError(where + "points cannot be negative.", "lines")


def create_invoice(
    session: Session,
    *,
    lines: Sequence[LineInput],
    currency: str,
    rules: BillingRules,
    now: datetime,
    member: Member | None = None,
    organisation: Organisation | None = None,
    created_by: Member | None = None,
    provider: str = "manual",
    source: Any = None,
) -> Invoice:
    """A draft invoice to exactly one of ``member`` or ``organisation``.

    ``source`` (a model instance: what is billed, e.g. a delivered list) makes
    creation idempotent: the invoice already raised for it is returned as is.

    Raises ``InvoiceError`` for no or two recipients, an unknown currency,
    more than ``invoice_max_lines`` lines, a negative, zero or absurd total
    (over ``invoice_max_total``), or more than ``invoice_max_points`` points.
    """
    if source is not None:
        existing = session.scalar(
            select(Invoice).where(
                Invoice.source_type == source.__tablename__,
                Invoice.source_id == source.id,
            )
        )
        if existing is not None:
            return existing
    if (member is None) == (organisation is None):
        raise InvoiceError("Bill either a member or an organisation.", "recipient")
    try:
        currency = check_currency(currency)
    except PlanError as bad:
        raise InvoiceError(bad.message, "currency") from bad
    lines = [
        LineInput(
            line.description.strip(),
            line.quantity,
            parse_amount(line.unit_price),
            line.points_per_unit,
        )
        for line in lines
    ]
    _check_lines(lines, rules)
    total = sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))
    points = sum(line.points_per_unit * line.quantity for line in lines)
    if total <= 0:
        raise InvoiceError("The total must be more than zero.", "lines")
    if total > rules.invoice_max_total:
        raise InvoiceError(
            f"The total {total:,} is over the limit of "
            f"{rules.invoice_max_total:,} for one invoice.",
            "lines",
        )
    if points > rules.invoice_max_points:
        raise InvoiceError(
            f"{points:,} points is over the limit of "
            f"{rules.invoice_max_points:,} for one invoice.",
            "lines",
        )
    invoice = Invoice(
        state=InvoiceState.DRAFT,
        member_id=member.id if member is not None else None,
        organisation_id=organisation.id if organisation is not None else None,
        currency=currency,
        total=total,
        points=points,
        provider=provider,
        source_type=source.__tablename__ if source is not None else None,
        source_id=source.id if source is not None else None,
        created_by_id=created_by.id if created_by is not None else None,
        created_at=now,
    )
    session.add(invoice)
    session.flush()
    for position, line in enumerate(lines, start=1):
        session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                position=position,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                points_per_unit=line.points_per_unit,
            )
        )
    session.flush()
    session.refresh(invoice)
    return invoice


def _move(
    session: Session,
    invoice: Invoice,
    allowed: Sequence[InvoiceState],
    to: InvoiceState,
    verb: str,
    **values,
) -> None:
    moved = session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.state.in_(allowed))
        .values(state=to, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(invoice)
    if not moved:
        raise InvoiceStateError(
            f"Invoice {invoice.label} is {invoice.state.value}: it cannot be {verb}."
        )


def next_number(session: Session, year: int, prefix: str) -> str:
    """The next invoice number of ``year``; takes the counter's row lock."""
    insert = insert_for(session.get_bind())
    session.execute(
        insert(InvoiceSequence)
        .values(year=year, last_number=0)
        .on_conflict_do_nothing(index_elements=["year"])
    )
    number = session.execute(
        update(InvoiceSequence)
        .where(InvoiceSequence.year == year)
        .values(last_number=InvoiceSequence.last_number + 1)
        .returning(InvoiceSequence.last_number)
    ).scalar_one()
    return f"{prefix}-{year}-{number:06d}"


def issue_invoice(
    session: Session, invoice: Invoice, *, now: datetime, rules: BillingRules
) -> Invoice:
    """Draft -> issued, with the next number. Raises ``InvoiceStateError``."""
    _move(
        session,
        invoice,
        [InvoiceState.DRAFT],
        InvoiceState.ISSUED,
        "issued",
        issued_at=now,
    )
    invoice.number = next_number(session, now.year, rules.invoice_number_prefix)
    session.flush()
    return invoice


def purchase_recipients(session: Session, invoice: Invoice) -> list[Member]:
    """Who receives the invoice's points (see ``portal.billing``)."""
    if invoice.member_id is not None:
        return [session.get(Member, invoice.member_id)]
    return seat_holders(session, session.get(Organisation, invoice.organisation_id))


def split_points(points: int, recipients: int) -> list[int]:
    """``points`` shared equally; the remainder one each to the first."""
    share, extra = divmod(points, recipients)
    return [share + (1 if n < extra else 0) for n in range(recipients)]


@dataclass(frozen=True)
class Credit:
    member: Member
    points: int
    expires_at: datetime


def pay_invoice(
    session: Session,
    invoice: Invoice,
    *,
    now: datetime,
    rules: BillingRules,
    reference: str | None = None,
) -> list[Credit]:
    """Issued -> paid, and credit its points as purchases, exactly once.

    Raises ``InvoiceStateError`` unless the invoice is issued (paying it a
    second time, even concurrently, is refused and credits nothing), and
    ``InvoiceError`` when an organisation's invoice has points but nobody to
    receive them (it stays issued).
    """
    session.refresh(invoice)
    recipients = purchase_recipients(session, invoice) if invoice.points else []
    if invoice.points and not recipients:
        raise InvoiceError(
            "This organisation has no active members to receive the points: add a "
            "member, then mark the invoice paid."
        )
    _move(
        session,
        invoice,
        [InvoiceState.ISSUED],
        InvoiceState.PAID,
        "paid",
        paid_at=now,
        payment_reference=reference or None,
    )
    credits = []
    for member, points in zip(
        recipients, split_points(invoice.points, len(recipients) or 1), strict=False
    ):
        if not points:
            continue
        lot = expiry.credit_purchase(
            session,
            member.id,
            points,
            f"purchase:invoice:{invoice.id}:{member.id}",
            now=now,
            rules=rules,
            reference=invoice,
            note=f"Invoice {invoice.number}",
        )
        credits.append(Credit(member, points, lot.expires_at))
    return credits


def void_invoice(
    session: Session, invoice: Invoice, *, now: datetime, reason: str
) -> Invoice:
    """Draft or issued -> void, with a reason. A paid invoice cannot be voided
    (its points may be spent). Raises ``InvoiceError``/``InvoiceStateError``."""
    reason = (reason or "").strip()
    if not reason:
        raise InvoiceError("Say why the invoice is void.", "reason")
    _move(
        session,
        invoice,
        [InvoiceState.DRAFT, InvoiceState.ISSUED],
        InvoiceState.VOID,
        "voided",
        voided_at=now,
        void_reason=reason[:300],
    )
    return invoice


def billing_contacts(session: Session, invoice: Invoice) -> list[Member]:
    """Who an invoice is sent to: the member, or the organisation's org admins
    (all its active members when it has none)."""
    if invoice.member_id is not None:
        return [session.get(Member, invoice.member_id)]
    members = session.scalars(
        select(Member)
        .where(
            Member.organisation_id == invoice.organisation_id,
            Member.status == MemberStatus.ACTIVE,
        )
        .order_by(Member.id)
    ).all()
    admins = [m for m in members if m.role == Role.ORG_ADMIN]
    return admins or list(members)
