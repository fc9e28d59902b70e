"""Admin organisations: find, create and rename them; one organisation's page
shows its plan, members, invitations, invoices and pooling choice."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.models import AuditEntry, Organisation
from tests.billing_helpers import issued_invoice, make_organisation
from tests.conftest import csrf_token_from


@pytest.fixture
def admin(client, auth, make_member):
    admin = make_member(email="root@tessera.example", role="admin")
    auth.login(admin.email)
    return admin


def post(client, path, **data):
    token = csrf_token_from(client.get("/admin/organisations").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def test_list_finds_organisations_by_name(client, db, admin, make_member):
    northwind = make_organisation(db, name="Northwind Traders")
    make_organisation(db, name="Contoso")
    make_member(organisation_id=northwind.id)
    make_member(organisation_id=northwind.id)
    html = client.get("/admin/organisations").get_data(as_text=True)
    assert "Northwind Traders" in html and "Contoso" in html
    found = client.get(
        "/admin/organisations?q=north", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert found.lstrip().startswith('<div id="organisations-table"')
    assert "Northwind Traders" in found and "Contoso" not in found
    assert '<td class="numeric">2</td>' in found


def test_create_an_organisation_with_its_currency(client, db, admin):
    response = post(
        client, "/admin/organisations", name="  Fabrikam   Ltd ", currency="GBP"
    )
    assert response.status_code == 302
    created = db.session.scalar(select(Organisation))
    assert (created.name, created.currency) == ("Fabrikam Ltd", "GBP")
    assert response.headers["Location"].endswith(f"/admin/organisations/{created.id}")
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "organisation.created")
    )
    assert entry.details == {"name": "Fabrikam Ltd", "currency": "GBP"}


@pytest.mark.parametrize(
    ("name", "currency", "message"),
    [
        ("", "EUR", "Give the organisation a name."),
        ("northwind traders", "EUR", "exists already"),
        ("Fabrikam", "XTS", "Not a valid choice"),
    ],
)
def test_a_bad_organisation_is_explained_and_not_created(
    client, db, admin, name, currency, message
):
    make_organisation(db, name="Northwind Traders")
    response = post(client, "/admin/organisations", name=name, currency=currency)
    assert response.status_code in (409, 422)
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 1


def test_rename_keeps_the_audit_trail(client, db, admin):
    northwind = make_organisation(db, name="Northwind")
    response = post(
        client, f"/admin/organisations/{northwind.id}/rename", name="Northwind Traders"
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Organisation, northwind.id).name == "Northwind Traders"
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "organisation.renamed")
    )
    assert entry.details == {"from": "Northwind", "to": "Northwind Traders"}


def test_rename_to_anothers_name_is_refused(client, db, admin):
    northwind = make_organisation(db, name="Northwind")
    make_organisation(db, name="Contoso")
    response = post(
        client, f"/admin/organisations/{northwind.id}/rename", name="CONTOSO"
    )
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Organisation, northwind.id).name == "Northwind"


def test_organisation_page_shows_members_invoices_and_pooling(
    client, db, admin, make_member
):
    northwind = make_organisation(db, name="Northwind Traders", seats=1)
    make_member(email="olga@northwind.example", organisation_id=northwind.id)
    invoice_id = issued_invoice(organisation=northwind)
    html = client.get(f"/admin/organisations/{northwind.id}").get_data(as_text=True)
    assert "olga@northwind.example" in html
    assert f'href="/admin/invoices/{invoice_id}"' in html
    assert "Pooling</dt><dd>off" in html
    assert "1 of 1 held" in html
