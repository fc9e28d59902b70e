"""Revealing from the contact page, and "My contacts" with its CSV export."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select

from portal import ledger
from portal.models import (
    ContactState,
    Disclosure,
    DisclosureChannel,
    EntryKind,
)
from tests.conftest import csrf_token_from

# The reveal limit counts from midnight UTC.
pytestmark = pytest.mark.usefixtures("fixed_clock")

EMAIL = "grace.hopper@navy-systems.com"


@pytest.fixture
def buyer(make_member, auth, db):
    member = make_member(email="buyer@northwind.example")
    ledger.record(db.session, member.id, 25, EntryKind.PURCHASE, "fund")
    db.session.commit()
    auth.login("buyer@northwind.example")
    return member


@pytest.fixture
def contact(make_contact, make_company, make_member):
    owner = make_member(email="owner@northwind.example")
    company = make_company(name="Navy Systems", domain="navy-systems.com")
    return make_contact(
        company=company,
        first_name="Grace",
        last_name="Hopper",
        email=EMAIL,
        phone="+442079460958",
        owner_id=owner.id,
    )


def reveal(client, contact_id, htmx=False):
    token = csrf_token_from(
        client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    )
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        f"/contacts/{contact_id}/unlock", data={"csrf_token": token}, headers=headers
    )


def test_email_and_phone_hidden_until_revealed(client, buyer, contact, db):
    """Before: masked everywhere in the page; after: shown, points spent once."""
    before = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert EMAIL not in before and "grace.hopper" not in before
    assert "+442079460958" not in before
    response = reveal(client, contact.id, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert EMAIL in html and "+44 20 7946 0958" in html
    assert "Revealed for 10 points. You have 15 left to spend." in html
    again = reveal(client, contact.id)
    assert "viewing it again is free" in again.get_data(as_text=True)
    assert ledger.vested_balance(db.session, buyer.id) == 15


def test_reveal_announces_the_new_balance_to_the_header(client, buyer, contact):
    """The header shows the vested balance; an htmx reveal sends the new one in
    an HX-Trigger event so the header follows without a reload."""
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "<span data-balance>25</span> pts" in page
    response = reveal(client, contact.id, htmx=True)
    assert json.loads(response.headers["HX-Trigger"]) == {
        "balance-changed": {"vested": 15}
    }
    plain = reveal(client, contact.id)
    assert "HX-Trigger" not in plain.headers
    assert "<span data-balance>15</span> pts" in plain.get_data(as_text=True)


def test_not_enough_points_says_how_to_earn(client, auth, make_member, contact, db):
    """A member with too few points gets 402 and a way to earn more."""
    make_member(email="poor@northwind.example")
    auth.login("poor@northwind.example")
    response = reveal(client, contact.id)
    assert response.status_code == 402
    html = response.get_data(as_text=True)
    assert "contributing contacts" in html
    assert EMAIL not in html


def test_graveyard_contact_cannot_be_revealed(client, buyer, contact, db):
    """A graveyard contact is refused with 409 and nothing is charged."""
    contact.state = ContactState.GRAVEYARD
    db.session.commit()
    response = reveal(client, contact.id)
    assert response.status_code == 409
    assert ledger.vested_balance(db.session, buyer.id) == 25


def test_daily_limit_answers_429(app, client, buyer, contact, make_contact):
    """Past the daily reveal limit the answer is a clear 429 page."""
    app.config["REVEAL_DAILY_LIMIT"] = 1
    reveal(client, contact.id)
    other = make_contact()
    response = reveal(client, other.id)
    assert response.status_code == 429
    assert "daily limit" in response.get_data(as_text=True)


def test_my_contacts_lists_filters_and_exports_escaped(
    client, buyer, contact, make_contact, db
):
    """Revealed contacts are listed and filterable; the export escapes formulas
    and records a disclosure per contact."""
    tricky = make_contact(first_name="=cmd", last_name="Evil", title="@SUM(A1)")
    buyer_ledger = ledger.vested_balance(db.session, buyer.id)
    assert buyer_ledger == 25
    reveal(client, contact.id)
    reveal(client, tricky.id)
    listing = client.get("/my/contacts").get_data(as_text=True)
    assert EMAIL in listing
    filtered = client.get(
        "/my/contacts?q=navy", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert EMAIL in filtered and "Evil" not in filtered
    response = client.get("/my/contacts.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_last = {row["last_name"]: row for row in rows}
    assert by_last["Hopper"]["email"] == EMAIL
    assert by_last["Evil"]["first_name"] == "'=cmd"
    assert by_last["Evil"]["title"] == "'@SUM(A1)"
    assert by_last["Hopper"]["phone"] == "+442079460958"
    exports = db.session.scalar(
        select(func.count()).where(Disclosure.channel == DisclosureChannel.EXPORT)
    )
    assert exports == 2


def test_my_contacts_shows_only_own_reveals(client, auth, buyer, contact, make_member):
    """Another member's list does not include this member's reveals."""
    reveal(client, contact.id)
    make_member(email="other@northwind.example")
    auth.logout()
    auth.login("other@northwind.example")
    assert EMAIL not in client.get("/my/contacts").get_data(as_text=True)
    assert EMAIL not in client.get("/my/contacts.csv").get_data(as_text=True)


@pytest.mark.parametrize("role", ["moderator", "admin"])
def test_staff_see_details_and_each_view_is_audited(
    client, auth, make_member, contact, db, role
):
    """Staff see email and phone without paying; the view is in the audit log."""
    from portal.models import AuditEntry

    make_member(email=f"{role}@northwind.example", role=role)
    auth.login(f"{role}@northwind.example")
    html = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert EMAIL in html
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "contact.details_viewed")
    ).one()
    assert entry.target_id == str(contact.id)


def _xlsx_cells(data: bytes) -> list[list[tuple[str, str]]]:
    """Each row's cells as (type, text) read straight from the sheet XML."""
    ns = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        xml = book.read("xl/worksheets/sheet1.xml")
    # Our own export, not untrusted input.
    sheet = ElementTree.fromstring(xml)  # noqa: S314
    rows = []
    for row in sheet.iterfind(".//x:sheetData/x:row", ns):
        cells = []
        for cell in row.iterfind("x:c", ns):
            text = "".join(t.text or "" for t in cell.iterfind(".//x:t", ns))
            cells.append((cell.get("t"), text))
        rows.append(cells)
    return rows


def test_my_contacts_export_as_xlsx_keeps_every_cell_as_text(
    client, buyer, contact, make_contact, db
):
    """The .xlsx export holds the same values unescaped, every cell a text
    cell (no formula, no number), and records a disclosure per contact."""
    tricky = make_contact(first_name="=cmd", last_name="Evil", title="@SUM(A1)")
    reveal(client, contact.id)
    reveal(client, tricky.id)
    response = client.get("/my/contacts.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    rows = _xlsx_cells(response.get_data())
    header = [text for _, text in rows[0]]
    assert header[:7] == [
        "first_name", "last_name", "title", "company", "company_domain",
        "email", "phone",
    ]  # fmt: skip
    by_last = {row[1][1]: [text for _, text in row] for row in rows[1:]}
    assert by_last["Hopper"][5:7] == [EMAIL, "+442079460958"]
    assert by_last["Evil"][0] == "=cmd" and by_last["Evil"][2] == "@SUM(A1)"
    assert {kind for row in rows for kind, _ in row} == {"inlineStr"}
    exports = db.session.scalar(
        select(func.count()).where(Disclosure.channel == DisclosureChannel.EXPORT)
    )
    assert exports == 2


def test_contact_page_reads_at_a_glance(client, buyer, make_contact, make_company):
    """Labels from one place (VP, HR), the country's name, and once revealed
    a formatted phone with a tel: link and the email with a mailto: link."""
    company = make_company(name="Navy Systems", domain="navy-systems.com")
    contact = make_contact(
        company=company,
        first_name="Grace",
        last_name="Hopper",
        title="VP of People",
        seniority="vp",
        department="hr",
        email=EMAIL,
        phone="+442079460958",
        country="GB",
    )
    html = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "(VP, HR)" in html and "United Kingdom" in html
    assert "You have 25 to spend." in html
    html = reveal(client, contact.id).get_data(as_text=True)
    assert f'<a href="mailto:{EMAIL}">{EMAIL}</a>' in html
    assert '<a href="tel:+44-20-7946-0958" class="nowrap">+44 20 7946 0958</a>' in html


def test_contributor_is_not_offered_confirm_on_own_contact(client, buyer, make_contact):
    """The owner sees who can confirm instead of a Confirm button; others see
    the button."""
    own = make_contact(owner_id=buyer.id)
    html = client.get(f"/contacts/{own.id}").get_data(as_text=True)
    assert "Confirm it is current" not in html
    assert "You added this contact" in html
    other = make_contact()
    html = client.get(f"/contacts/{other.id}").get_data(as_text=True)
    assert "Confirm it is current" in html
