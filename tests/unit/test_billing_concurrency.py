"""Paying one invoice from many processes at once credits its points once."""

from __future__ import annotations

import multiprocessing
import time

from sqlalchemy import func, select

from portal import ledger
from portal.models import EntryKind, Invoice, InvoiceState, LedgerEntry, PurchaseLot
from tests.billing_helpers import issued_invoice, make_organisation

_app = None
PROCESSES = 6


def _start_process(config: dict) -> None:
    global _app
    from portal import create_app
    from tests.clock import start_shifted_clock

    start_shifted_clock()  # the same date as the test that spawned it
    _app = create_app(config)


def _pay(args: tuple[int, float]) -> str:
    from portal.billing.invoices import InvoiceStateError
    from portal.billing.providers import ManualInvoiceProvider
    from portal.billing.rules import BillingRules
    from portal.models.base import utcnow

    invoice_id, start_at = args
    # The monotonic clock is the machine's, shared by every process and never
    # shifted by the test clock (time.time() is: the processes would wait a year).
    time.sleep(max(0.0, start_at - time.monotonic()))  # everyone starts together
    with _app.app_context():
        provider = ManualInvoiceProvider(BillingRules.from_config(_app.config))
        try:
            with ledger.write_transaction() as session:
                invoice = session.get(Invoice, invoice_id)
                provider.mark_paid(session, invoice, now=utcnow())
        except InvoiceStateError:
            return "already paid"
        return "paid"


def test_an_invoice_paid_concurrently_is_credited_once(app_config, db, make_member):
    """Six processes mark the same organisation invoice paid at the same
    moment: one succeeds, five are told it is paid; each seat holder is
    credited once and the balances add up to the invoice's points."""
    organisation = make_organisation(db, seats=2)
    members = [make_member(organisation_id=organisation.id) for _ in range(2)]
    invoice_id = issued_invoice(organisation=organisation)
    context = multiprocessing.get_context("spawn")
    with context.Pool(
        PROCESSES, initializer=_start_process, initargs=(app_config,)
    ) as pool:
        pool.map(time.sleep, [0.1] * PROCESSES)  # every process has started
        start_at = time.monotonic() + 1.0
        results = pool.map(_pay, [(invoice_id, start_at)] * PROCESSES)
    assert sorted(results) == ["already paid"] * (PROCESSES - 1) + ["paid"]
    db.session.expire_all()
    assert db.session.get(Invoice, invoice_id).state == InvoiceState.PAID
    purchases = db.session.scalar(
        select(func.count()).where(LedgerEntry.kind == EntryKind.PURCHASE)
    )
    assert purchases == 2
    assert db.session.scalar(select(func.count()).select_from(PurchaseLot)) == 2
    assert [ledger.vested_balance(db.session, m.id) for m in members] == [500, 500]
