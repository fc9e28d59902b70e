"""Shared set-up for the billing tests: rules, organisations, invoices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from portal import ledger
from portal.billing import invoices
from portal.billing.invoices import LineInput
from portal.billing.rules import BillingRules
from portal.models import Organisation
from portal.models.accounts import Plan

RULES = BillingRules()
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
POINTS_PACK = LineInput("Points pack 1,000", 1, Decimal("45.00"), 1000)


def make_organisation(db, name="Northwind", plan=Plan.FREE, seats=1, **fields):
    organisation = Organisation(name=name, plan=plan, seats=seats, **fields)
    db.session.add(organisation)
    db.session.commit()
    return organisation


def draft_invoice(*, member=None, organisation=None, lines=(POINTS_PACK,), now=NOW):
    """A committed draft invoice; returns its id."""
    with ledger.write_transaction() as session:
        invoice = invoices.create_invoice(
            session,
            lines=list(lines),
            currency="EUR",
            rules=RULES,
            now=now,
            member=member,
            organisation=organisation,
        )
    return invoice.id


def issued_invoice(**kwargs) -> int:
    invoice_id = draft_invoice(**kwargs)
    with ledger.write_transaction() as session:
        invoices.issue_invoice(
            session, session.get(invoices.Invoice, invoice_id), now=NOW, rules=RULES
        )
    return invoice_id
