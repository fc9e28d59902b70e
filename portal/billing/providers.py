"""The payment-provider boundary: how an invoice gets issued, paid or voided.

The admin pages and any later caller (the list service's deliveries, a card
processor's webhook) go through a ``PaymentProvider``; only the provider knows
how money moves. ``ManualInvoiceProvider`` is the one in use: the invoice is
sent to the customer and paid by bank transfer, and an admin records the
payment with its bank reference. A card provider would implement the same
three methods (open a checkout at issue, confirm from its webhook).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from portal.billing import invoices
from portal.billing.invoices import Credit
from portal.billing.rules import BillingRules
from portal.models import Invoice


class PaymentProvider(Protocol):
    name: str

    def issue(self, session: Session, invoice: Invoice, *, now: datetime) -> Invoice:
        """Make a draft payable: it gets its number and goes to the customer."""
        ...

    def mark_paid(
        self,
        session: Session,
        invoice: Invoice,
        *,
        now: datetime,
        reference: str | None = None,
    ) -> list[Credit]:
        """Record that the money arrived; credits the invoice's points once."""
        ...

    def void(
        self, session: Session, invoice: Invoice, *, now: datetime, reason: str
    ) -> Invoice:
        """Cancel an invoice that was not paid."""
        ...


class ManualInvoiceProvider:
    """Invoices paid by bank transfer, recorded by an admin."""

    name = "manual"

    def __init__(self, rules: BillingRules):
        self.rules = rules

    def issue(self, session: Session, invoice: Invoice, *, now: datetime) -> Invoice:
        return invoices.issue_invoice(session, invoice, now=now, rules=self.rules)

    def mark_paid(
        self,
        session: Session,
        invoice: Invoice,
        *,
        now: datetime,
        reference: str | None = None,
    ) -> list[Credit]:
        return invoices.pay_invoice(
            session, invoice, now=now, rules=self.rules, reference=reference
        )

    def void(
        self, session: Session, invoice: Invoice, *, now: datetime, reason: str
    ) -> Invoice:
        return invoices.void_invoice(session, invoice, now=now, reason=reason)


def provider_for(invoice: Invoice, rules: BillingRules) -> PaymentProvider:
    """The provider that handles ``invoice``; raises ``LookupError`` if unknown."""
    if invoice.provider == ManualInvoiceProvider.name:
        return ManualInvoiceProvider(rules)
    raise LookupError(f"no payment provider named {invoice.provider!r}")
