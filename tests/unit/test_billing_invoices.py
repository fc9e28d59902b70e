"""Invoices: validation, numbers, legal transitions, purchase credits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal import ledger
from portal.billing import invoices
from portal.billing.invoices import InvoiceError, InvoiceStateError, LineInput
from portal.billing.providers import ManualInvoiceProvider, provider_for
from portal.models import EntryKind, Invoice, InvoiceState, LedgerEntry, PurchaseLot
from portal.models.accounts import MemberStatus
from tests.billing_helpers import (
    NOW,
    POINTS_PACK,
    RULES,
    draft_invoice,
    issued_invoice,
    make_organisation,
)


def _create(session, member, lines, currency="EUR"):
    return invoices.create_invoice(
        session, lines=lines, currency=currency, rules=RULES, now=NOW, member=member
    )


def _with(invoice_id, action, **kwargs):
    provider = ManualInvoiceProvider(RULES)
    with ledger.write_transaction() as session:
        invoice = session.get(Invoice, invoice_id)
        return getattr(provider, action)(session, invoice, now=NOW, **kwargs)


@pytest.mark.parametrize(
    ("lines", "currency", "message"),
    [
        ([], "EUR", "at least one line"),
        ([LineInput("Pack", 1, Decimal("-5"), 10)], "EUR", "cannot be negative"),
        ([LineInput("Pack", 1, Decimal("0"), 10)], "EUR", "more than zero"),
        ([LineInput("Pack", 0, Decimal("5"), 10)], "EUR", "quantity must be"),
        ([LineInput("Pack", 1, Decimal("5.001"), 10)], "EUR", "two decimals"),
        ([LineInput("Pack", 1, Decimal("5"), -1)], "EUR", "points cannot be negative"),
        ([LineInput("  ", 1, Decimal("5"), 1)], "EUR", "say what it is for"),
        ([LineInput("Pack", 1000, Decimal("999999"), 1)], "EUR", "over the limit"),
        ([LineInput("Pack", 1, Decimal("10"), 20_000_000)], "EUR", "points is over"),
        ([POINTS_PACK] * 11, "EUR", "at most 10 lines"),
        ([POINTS_PACK], "EURO", "not an ISO 4217 currency"),
        ([POINTS_PACK], "XYZ", "not an ISO 4217 currency"),
        ([POINTS_PACK], "XAU", "not an ISO 4217 currency"),
    ],
)
def test_bad_invoices_are_refused_with_a_reason(
    app, db, make_member, lines, currency, message
):
    """Negative, zero, absurd or malformed invoices are refused, nothing written."""
    member = make_member()
    with pytest.raises(InvoiceError, match=message), ledger.write_transaction() as s:
        _create(s, member, lines, currency)
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_an_invoice_bills_exactly_one_recipient(app, db, make_member):
    """Neither or both of member and organisation is refused."""
    member = make_member()
    organisation = make_organisation(db)
    for kwargs in ({}, {"member": member, "organisation": organisation}):
        with (
            pytest.raises(InvoiceError, match="either a member or an organisation"),
            ledger.write_transaction() as session,
        ):
            invoices.create_invoice(
                session,
                lines=[POINTS_PACK],
                currency="EUR",
                rules=RULES,
                now=NOW,
                **kwargs,
            )


def test_draft_totals_lines_and_points(app, db, make_member):
    """A draft adds up its lines: total, points, currency upper-cased."""
    member = make_member()
    with ledger.write_transaction() as session:
        invoice = _create(
            session,
            member,
            [
                LineInput("Points pack 1,000", 2, Decimal("45.00"), 1000),
                LineInput("Setup", 1, Decimal("9.99"), 0),
            ],
            currency="chf",
        )
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.state, invoice.number) == (InvoiceState.DRAFT, None)
    assert invoice.total == Decimal("99.99")
    assert invoice.points == 2000
    assert invoice.currency == "CHF"
    assert [line.position for line in invoice.lines] == [1, 2]


def test_issuing_numbers_invoices_in_sequence_per_year(app, db, make_member):
    """Issued invoices get TSR-<year>-000001, 000002, ...; a new year restarts."""
    member = make_member()
    first, second, third = (draft_invoice(member=member) for _ in range(3))
    provider = ManualInvoiceProvider(RULES)
    numbers = []
    for invoice_id, now in (
        (second, NOW),
        (first, NOW),
        (third, datetime(2027, 1, 2, tzinfo=UTC)),
    ):
        with ledger.write_transaction() as session:
            invoice = provider.issue(session, session.get(Invoice, invoice_id), now=now)
            numbers.append(invoice.number)
    assert numbers == ["TSR-2026-000001", "TSR-2026-000002", "TSR-2027-000001"]


@pytest.mark.parametrize(
    ("steps", "refused", "message"),
    [
        ((), "mark_paid", "is draft: it cannot be paid"),
        (("issue",), "issue", "is issued: it cannot be issued"),
        (("issue", "mark_paid"), "void", "is paid: it cannot be voided"),
        (("issue", "mark_paid"), "mark_paid", "is paid: it cannot be paid"),
        (("void",), "issue", "is void: it cannot be issued"),
        (("issue", "void"), "mark_paid", "is void: it cannot be paid"),
    ],
)
def test_only_legal_transitions(app, db, make_member, steps, refused, message):
    """draft -> issued -> paid and draft/issued -> void; everything else refused."""
    member = make_member()
    invoice_id = draft_invoice(member=member)
    for step in steps:
        _with(invoice_id, step, **({"reason": "typo"} if step == "void" else {}))
    before = db.session.get(Invoice, invoice_id).state
    kwargs = {"reason": "typo"} if refused == "void" else {}
    with pytest.raises(InvoiceStateError, match=message):
        _with(invoice_id, refused, **kwargs)
    db.session.expire_all()
    assert db.session.get(Invoice, invoice_id).state == before


def test_voiding_needs_a_reason(app, db, make_member):
    """A void without a reason is refused; with one it is recorded."""
    invoice_id = draft_invoice(member=make_member())
    with pytest.raises(InvoiceError, match="Say why"):
        _with(invoice_id, "void", reason="  ")
    _with(invoice_id, "void", reason="Raised in error")
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice_id)
    assert (invoice.state, invoice.void_reason) == (
        InvoiceState.VOID,
        "Raised in error",
    )


def test_paying_credits_purchase_points_once_with_an_expiry(app, db, make_member):
    """Paid: the member gets the points as a purchase expiring 365 days on;
    paying again is refused and credits nothing more."""
    member = make_member()
    invoice_id = issued_invoice(member=member)
    credits = _with(invoice_id, "mark_paid", reference="BANK-42")
    assert [(c.member.id, c.points) for c in credits] == [(member.id, 1000)]
    with pytest.raises(InvoiceStateError, match="already|is paid"):
        _with(invoice_id, "mark_paid")
    db.session.expire_all()
    assert ledger.vested_balance(db.session, member.id) == 1000
    entry = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.kind == EntryKind.PURCHASE)
    ).one()
    assert entry.note == "Invoice TSR-2026-000001"
    lot = db.session.scalars(select(PurchaseLot)).one()
    assert lot.expires_at == NOW + timedelta(days=365)
    invoice = db.session.get(Invoice, invoice_id)
    assert (invoice.state, invoice.payment_reference) == (InvoiceState.PAID, "BANK-42")


def test_organisation_points_are_shared_among_its_seats(app, db, make_member):
    """1,000 points for 3 seats: 334/333/333 to the three earliest active
    members; a suspended member and the member past the seats get none."""
    organisation = make_organisation(db, seats=3)
    first = make_member(organisation_id=organisation.id)
    make_member(organisation_id=organisation.id, status=MemberStatus.SUSPENDED)
    second = make_member(organisation_id=organisation.id)
    third = make_member(organisation_id=organisation.id)
    fourth = make_member(organisation_id=organisation.id)
    invoice_id = issued_invoice(organisation=organisation)
    _with(invoice_id, "mark_paid")
    db.session.expire_all()
    balances = {
        m.id: ledger.vested_balance(db.session, m.id)
        for m in (first, second, third, fourth)
    }
    assert balances == {first.id: 334, second.id: 333, third.id: 333, fourth.id: 0}


def test_organisation_without_members_cannot_be_paid(app, db):
    """No one to credit: refused with a reason, the invoice stays issued."""
    organisation = make_organisation(db, seats=5)
    invoice_id = issued_invoice(organisation=organisation)
    with pytest.raises(InvoiceError, match="no active members"):
        _with(invoice_id, "mark_paid")
    db.session.expire_all()
    assert db.session.get(Invoice, invoice_id).state == InvoiceState.ISSUED


def test_invoices_without_points_credit_nothing(app, db, make_member):
    """A service invoice (no points) is paid without any ledger entry."""
    member = make_member()
    invoice_id = issued_invoice(
        member=member, lines=[LineInput("List delivery", 1, Decimal("120"), 0)]
    )
    assert _with(invoice_id, "mark_paid") == []
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_an_invoice_for_a_source_is_raised_once(app, db, make_member):
    """Another area's retried job asking again for the same source's invoice
    gets the first one back, not a second bill."""
    member = make_member()
    organisation = make_organisation(db)
    ids = set()
    for _ in range(2):
        with ledger.write_transaction() as session:
            invoice = invoices.create_invoice(
                session,
                lines=[LineInput("List delivery", 1, Decimal("120.00"), 0)],
                currency="EUR",
                rules=RULES,
                now=NOW,
                organisation=organisation,
                source=member,
            )
            ids.add(invoice.id)
    assert len(ids) == 1
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 1


def test_unknown_provider_is_refused(app, db, make_member):
    """An invoice naming a provider that does not exist is not handled."""
    invoice = db.session.get(Invoice, draft_invoice(member=make_member()))
    invoice.provider = "carrier-pigeon"
    with pytest.raises(LookupError, match="carrier-pigeon"):
        provider_for(invoice, RULES)
    db.session.rollback()
