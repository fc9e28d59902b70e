"""The billing admin pages: invoices and plans, for admins only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import func, select

from portal import ledger
from portal.billing import expiry
from portal.models import (
    AuditEntry,
    EntryKind,
    Invoice,
    InvoiceState,
    LedgerEntry,
    Organisation,
    OutboxMessage,
)
from portal.models.accounts import Plan
from tests.billing_helpers import (
    RULES,
    draft_invoice,
    issued_invoice,
    make_organisation,
)
from tests.conftest import csrf_token_from

ADMIN = "ada@tessera.example"
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


@pytest.fixture
def admin(client, auth, make_member):
    member = make_member(email=ADMIN, role="admin")
    auth.login(ADMIN)
    return member


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _token(client, path="/admin/invoices/new") -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def _line(n, description="", quantity="", unit_price="", points=""):
    return {
        f"lines-{n}-description": description,
        f"lines-{n}-quantity": quantity,
        f"lines-{n}-unit_price": unit_price,
        f"lines-{n}-points_per_unit": points,
    }


def _invoice_form(client, member_email="", organisation_id="", currency="EUR", **lines):
    data = {
        "csrf_token": _token(client),
        "member_email": member_email,
        "organisation_id": organisation_id,
        "currency": currency,
        **_line(0, "Points pack 1,000", "2", "45.00", "1000"),
    }
    data.update(lines)
    return data


def _audit_actions(db) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_admin_records_issues_and_marks_paid_and_the_member_sees_the_points(
    client, auth, db, clock, admin, make_member
):
    """The whole manual-invoice path: draft, issue (numbered, emailed), paid
    (points credited and emailed); the member's /points shows the purchase;
    each step is audited."""
    buyer = make_member(email="buyer@northwind.example")
    response = client.post("/admin/invoices", data=_invoice_form(client, buyer.email))
    assert response.status_code == 302
    invoice = db.session.scalars(select(Invoice)).one()
    assert response.headers["Location"] == f"/admin/invoices/{invoice.id}"
    page = client.get(f"/admin/invoices/{invoice.id}").get_data(as_text=True)
    assert "Draft invoice" in page and "90.00 EUR" in page

    token = _token(client, f"/admin/invoices/{invoice.id}")
    client.post(f"/admin/invoices/{invoice.id}/issue", data={"csrf_token": token})
    page = client.get(f"/admin/invoices/{invoice.id}").get_data(as_text=True)
    assert "Invoice TSR-2026-000001" in page
    client.post(
        f"/admin/invoices/{invoice.id}/pay",
        data={"csrf_token": token, "reference": "SEPA 778"},
    )
    page = client.get(f"/admin/invoices/{invoice.id}").get_data(as_text=True)
    assert "paid" in page and "SEPA 778" in page

    db.session.expire_all()
    assert ledger.vested_balance(db.session, buyer.id) == 2000
    subjects = db.session.scalars(select(OutboxMessage.subject)).all()
    assert "Invoice TSR-2026-000001 from Tessera" in subjects
    assert "2,000 points added to your Tessera balance" in subjects
    assert _audit_actions(db)[-3:] == [
        "invoice.created",
        "invoice.issued",
        "invoice.paid",
    ]

    auth.logout()
    auth.login(buyer.email)
    points = client.get("/points").get_data(as_text=True)
    assert "Purchase" in points and "+2000" in points
    assert "Invoice TSR-2026-000001" in points
    assert "2,000 purchased points expire on 10 Mar 2027" in points


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_line(0, "Pack", "1", "-5", "10"), "A price cannot be negative."),
        (_line(0, "Pack", "1000", "999999", "1"), "over the limit"),
        (_line(0, "Pack", "1", "5.005", "1"), "at most two decimals"),
        (_line(0, "Pack", "0", "5", "1"), "From 1 to 1,000,000."),
        (_line(0, "Pack", "", "5", "1"), "Line 1: fill in the quantity."),
        (_line(0), "Add at least one line."),
        ({"currency": "XXY"}, "Not a valid choice"),
        ({"member_email": ""}, "Bill either a member"),
        ({"member_email": "nobody@northwind.example"}, "No member has that email."),
    ],
)
def test_bad_invoice_input_is_refused_clearly(client, db, admin, change, message):
    """Negative, absurd or incomplete invoices get a 422 with the reason and
    nothing is saved."""
    data = _invoice_form(client, ADMIN)
    data.update(change)
    response = client.post("/admin/invoices", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_both_recipients_are_refused(client, db, admin):
    """A member and an organisation at once: refused."""
    org = make_organisation(db)
    response = client.post(
        "/admin/invoices", data=_invoice_form(client, ADMIN, str(org.id))
    )
    assert response.status_code == 422
    assert "not both" in response.get_data(as_text=True)


def test_organisation_invoice_defaults_to_its_currency(client, db, admin):
    """New invoice for an organisation: preselected with its currency."""
    org = make_organisation(db, currency="GBP")
    page = client.get(f"/admin/invoices/new?organisation={org.id}").get_data(
        as_text=True
    )
    assert f'<option selected value="{org.id}">' in page
    assert '<option selected value="GBP">' in page


def test_paying_twice_is_refused_and_credits_once(client, db, admin, make_member):
    """A second 'mark paid' (a double click, a stale tab) gets 409 and a
    reason; the points are there once."""
    buyer = make_member()
    invoice_id = issued_invoice(member=buyer)
    token = _token(client, f"/admin/invoices/{invoice_id}")
    first = client.post(f"/admin/invoices/{invoice_id}/pay", data={"csrf_token": token})
    second = client.post(
        f"/admin/invoices/{invoice_id}/pay", data={"csrf_token": token}
    )
    assert first.status_code == 302
    assert second.status_code == 409
    assert "is paid: it cannot be paid" in second.get_data(as_text=True)
    assert ledger.vested_balance(db.session, buyer.id) == 1000
    assert _audit_actions(db).count("invoice.paid") == 1


def test_void_needs_a_reason_and_hides_the_actions(client, db, admin, make_member):
    """Void without a reason: 422; with one: void, shown, audited, no buttons."""
    invoice_id = draft_invoice(member=make_member())
    token = _token(client, f"/admin/invoices/{invoice_id}")
    refused = client.post(
        f"/admin/invoices/{invoice_id}/void", data={"csrf_token": token, "reason": ""}
    )
    assert refused.status_code == 422
    assert "Say why the invoice is void." in refused.get_data(as_text=True)
    client.post(
        f"/admin/invoices/{invoice_id}/void",
        data={"csrf_token": token, "reason": "Duplicate of TSR-2026-000004"},
    )
    page = client.get(f"/admin/invoices/{invoice_id}").get_data(as_text=True)
    assert "Duplicate of TSR-2026-000004" in page
    assert "Mark paid" not in page and "Issue and send" not in page
    assert _audit_actions(db)[-1] == "invoice.voided"


def test_organisation_without_members_gets_a_clear_refusal(client, db, admin):
    """Paying an organisation's invoice with nobody to credit: 409, reason."""
    org = make_organisation(db)
    invoice_id = issued_invoice(organisation=org)
    token = _token(client, f"/admin/invoices/{invoice_id}")
    response = client.post(
        f"/admin/invoices/{invoice_id}/pay", data={"csrf_token": token}
    )
    assert response.status_code == 409
    assert "no active members to receive the points" in response.get_data(as_text=True)
    assert db.session.get(Invoice, invoice_id).state == InvoiceState.ISSUED


def test_invoice_list_filters_by_state_and_text(client, db, admin, make_member):
    """State and free-text filters narrow the list; htmx gets the table only."""
    alice = make_member(email="alice@contoso.example")
    bob = make_member(email="bob@fabrikam.example")
    draft_invoice(member=alice)
    issued_invoice(member=bob)
    issued = client.get("/admin/invoices?state=issued").get_data(as_text=True)
    assert "TSR-2026-000001" in issued and "Draft 1" not in issued
    found = client.get("/admin/invoices?q=contoso").get_data(as_text=True)
    assert "Draft 1" in found and "TSR-2026-000001" not in found
    fragment = client.get("/admin/invoices?q=fabrikam", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert text.lstrip().startswith('<div id="invoices-table">')
    assert "TSR-2026-000001" in text


def test_invoice_page_prints_without_the_site_around_it(client, db, admin, make_member):
    """Navigation and action buttons are marked no-print; the stylesheet has
    print rules hiding them and the site header and footer."""
    invoice_id = issued_invoice(member=make_member())
    page = client.get(f"/admin/invoices/{invoice_id}").get_data(as_text=True)
    assert 'class="invoice-actions no-print"' in page
    assert '<div class="no-print">' in page
    with client.get("/static/css/tessera.css") as response:
        css = response.get_data(as_text=True)
    print_rules = css[css.index("@media print") :]
    for selector in (".site-header", ".site-footer", ".no-print"):
        assert selector in print_rules


def test_admin_changes_an_organisation_plan(client, db, admin):
    """Enterprise needs its allowance (422 without); with it the plan, seats
    and currency are saved and audited with before and after."""
    org = make_organisation(db)
    token = _token(client, f"/admin/plans/{org.id}")
    data = {"csrf_token": token, "plan": "enterprise", "seats": "12", "currency": "USD"}
    refused = client.post(f"/admin/plans/{org.id}", data=data)
    assert refused.status_code == 422
    assert "Enterprise needs a monthly allowance" in refused.get_data(as_text=True)
    response = client.post(
        f"/admin/plans/{org.id}", data={**data, "custom_allowance": "650"}
    )
    assert response.status_code == 302
    db.session.expire_all()
    org = db.session.get(Organisation, org.id)
    assert (org.plan, org.seats, org.currency, org.custom_allowance) == (
        Plan.ENTERPRISE,
        12,
        "USD",
        650,
    )
    entry = db.session.scalars(select(AuditEntry)).all()[-1]
    assert entry.action == "organisation.plan_changed"
    assert entry.details["before"]["plan"] == "free"
    assert "650" in client.get("/admin/plans").get_data(as_text=True)


def test_plan_seats_must_be_sensible(client, db, admin):
    """Zero or negative seats are refused."""
    org = make_organisation(db)
    token = _token(client, f"/admin/plans/{org.id}")
    response = client.post(
        f"/admin/plans/{org.id}",
        data={"csrf_token": token, "plan": "pro", "seats": "-3", "currency": "EUR"},
    )
    assert response.status_code == 422
    assert db.session.get(Organisation, org.id).plan == Plan.FREE


ROLES = ["anonymous", "member", "org_admin", "moderator"]


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_reach_billing(client, auth, db, make_member, role):
    """Every billing page and action: non-admins get 403 (anonymous: the
    login page), and nothing changes."""
    org = make_organisation(db)
    buyer = make_member()
    draft_id = draft_invoice(member=buyer)
    issued_id = issued_invoice(member=buyer)
    if role != "anonymous":
        make_member(email=f"{role}@northwind.example", role=role)
        auth.login(f"{role}@northwind.example")
    token = (
        csrf_token_from(client.get("/auth/login").get_data(as_text=True))
        if (role == "anonymous")
        else csrf_token_from(client.get("/").get_data(as_text=True))
    )
    requests = [
        ("get", "/admin/invoices", {}),
        ("get", "/admin/invoices/new", {}),
        ("get", f"/admin/invoices/{draft_id}", {}),
        ("get", "/admin/plans", {}),
        ("get", f"/admin/plans/{org.id}", {}),
        ("post", "/admin/invoices", _invoice_form_data(token, buyer.email)),
        ("post", f"/admin/invoices/{draft_id}/issue", {"csrf_token": token}),
        ("post", f"/admin/invoices/{issued_id}/pay", {"csrf_token": token}),
        (
            "post",
            f"/admin/invoices/{draft_id}/void",
            {"csrf_token": token, "reason": "x"},
        ),
        (
            "post",
            f"/admin/plans/{org.id}",
            {"csrf_token": token, "plan": "pro", "seats": "5", "currency": "EUR"},
        ),
    ]
    for method, path, data in requests:
        response = getattr(client, method)(path, data=data)
        if role == "anonymous":
            assert response.status_code == 302, path
            assert response.headers["Location"].startswith("/auth/login"), path
        else:
            assert response.status_code == 403, path
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 2
    assert db.session.get(Invoice, draft_id).state == InvoiceState.DRAFT
    assert db.session.get(Invoice, issued_id).state == InvoiceState.ISSUED
    assert db.session.get(Organisation, org.id).plan == Plan.FREE
    assert ledger.vested_balance(db.session, buyer.id) == 0
    assert not db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.kind == EntryKind.PURCHASE)
    ).all()


def _invoice_form_data(token, email):
    return {
        "csrf_token": token,
        "member_email": email,
        "organisation_id": "",
        "currency": "EUR",
        **_line(0, "Pack", "1", "10", "100"),
    }


def test_points_page_warns_of_purchased_points_expiring(
    app, db, make_member, client, auth
):
    """/points lists what is left of each purchase and when it expires."""
    member = make_member(email="buyer@northwind.example")
    with time_machine.travel(NOW, tick=False):
        _buy(member.id, 100)
        _spend(member.id, 30)
        auth.login("buyer@northwind.example")
        page = client.get("/points").get_data(as_text=True)
    assert "70 purchased points expire on 10 Mar 2027" in page
    assert "Purchase" in page


def _buy(member_id, points):
    with ledger.write_transaction() as session:
        expiry.credit_purchase(
            session, member_id, points, f"buy:{points}", now=NOW, rules=RULES
        )


def _spend(member_id, points):
    with ledger.write_transaction() as session:
        ledger.record(session, member_id, -points, EntryKind.UNLOCK, f"spend:{points}")


def test_admin_navigation_links_billing(client, admin):
    """The admin area's navigation has a Billing link to the invoices."""
    page = client.get("/admin").get_data(as_text=True)
    assert 'href="/admin/invoices"' in page
