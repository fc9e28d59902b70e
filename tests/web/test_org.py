"""The organisation's own area: org admins invite members by a single-use
emailed link, withdraw invitations, remove members, and read their plan,
usage and invoices; nobody else's organisation is ever reachable."""

from __future__ import annotations

import multiprocessing
import re
import time
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from portal import ledger
from portal.models import (
    EntryKind,
    InvitationState,
    Member,
    OneTimeToken,
    OrganisationInvitation,
    OutboxMessage,
    Role,
)
from portal.models.base import utcnow
from tests.billing_helpers import issued_invoice, make_organisation
from tests.conftest import AuthActions, csrf_token_from

LINK = re.compile(r"http://[^\s]+/org/join/([A-Za-z0-9_.-]+)")


@pytest.fixture
def northwind(db):
    return make_organisation(db, name="Northwind Traders")


@pytest.fixture
def org_admin(client, auth, make_member, northwind):
    admin = make_member(
        email="olga@northwind.example",
        display_name="Olga Admin",
        role="org_admin",
        organisation_id=northwind.id,
    )
    auth.login(admin.email)
    return admin


def post(client, path, **data):
    token = csrf_token_from(client.get("/org").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def invite(client, email):
    return post(client, "/org/invitations", email=email)


def last_link(db, to_address) -> str:
    message = db.session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.to_address == to_address)
        .order_by(OutboxMessage.id.desc())
    )
    return LINK.search(message.body_text).group(1)


def signed_in(app, email):
    client = app.test_client()
    AuthActions(client).login(email)
    return client


def accept(client, token):
    page = client.get(f"/org/join/{token}")
    if page.status_code != 200:
        return page
    form_token = csrf_token_from(page.get_data(as_text=True))
    return client.post(f"/org/join/{token}", data={"csrf_token": form_token})


def test_overview_shows_plan_members_and_invoices(client, db, org_admin, northwind):
    invoice_id = issued_invoice(organisation=northwind)
    html = client.get("/org").get_data(as_text=True)
    assert "Northwind Traders" in html and "olga@northwind.example" in html
    assert "Free" in html
    assert f'href="/org/invoices/{invoice_id}"' in html
    assert client.get(f"/org/invoices/{invoice_id}").status_code == 200


def test_an_invited_member_joins_with_the_emailed_link_once(
    app, client, db, org_admin, northwind, make_member
):
    bob = make_member(email="bob@northwind.example")
    assert invite(client, "Bob@Northwind.example").status_code == 302
    token = last_link(db, "Bob@Northwind.example")
    # Only the token's hash is stored.
    assert token.split(".")[1] not in {
        row.verifier_hash for row in db.session.scalars(select(OneTimeToken))
    }

    theirs = signed_in(app, bob.email)
    page = theirs.get(f"/org/join/{token}")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "Join Northwind Traders" in page.get_data(as_text=True)
    assert accept(theirs, token).status_code == 302
    db.session.expire_all()
    assert db.session.get(Member, bob.id).organisation_id == northwind.id
    invitation = db.session.scalar(select(OrganisationInvitation))
    assert invitation.state == InvitationState.ACCEPTED
    assert invitation.accepted_by_id == bob.id

    again = accept(theirs, token)
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)


def test_the_link_in_another_account_is_refused_and_still_works(
    app, client, db, org_admin, northwind, make_member
):
    bob = make_member(email="bob@northwind.example")
    make_member(email="mallory@evil.example")
    invite(client, bob.email)
    token = last_link(db, bob.email)

    mallory = signed_in(app, "mallory@evil.example")
    refused = accept(mallory, token)
    assert refused.status_code == 409
    assert "This invitation is for bob@northwind.example" in refused.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert (
        db.session.scalar(
            select(Member.organisation_id).where(Member.email == "mallory@evil.example")
        )
        is None
    )

    assert accept(signed_in(app, bob.email), token).status_code == 302


def test_a_new_invitation_retires_the_old_link(app, client, db, org_admin, make_member):
    bob = make_member(email="bob@northwind.example")
    invite(client, bob.email)
    first = last_link(db, bob.email)
    invite(client, bob.email)
    second = last_link(db, bob.email)
    theirs = signed_in(app, bob.email)
    assert theirs.get(f"/org/join/{first}").status_code == 410
    assert accept(theirs, second).status_code == 302
    assert (
        db.session.scalar(select(func.count()).select_from(OrganisationInvitation)) == 1
    )


def test_the_link_expires_after_seven_days(app, client, db, org_admin, make_member):
    bob = make_member(email="bob@northwind.example")
    invite(client, bob.email)
    token = last_link(db, bob.email)
    theirs = signed_in(app, bob.email)
    with time_machine.travel(utcnow() + timedelta(days=7, minutes=1)):
        response = theirs.get(f"/org/join/{token}")
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)


def test_a_withdrawn_invitation_no_longer_works(
    app, client, db, org_admin, make_member
):
    bob = make_member(email="bob@northwind.example")
    invite(client, bob.email)
    token = last_link(db, bob.email)
    invitation = db.session.scalar(select(OrganisationInvitation))
    assert post(client, f"/org/invitations/{invitation.id}/revoke").status_code == 302
    assert signed_in(app, bob.email).get(f"/org/join/{token}").status_code == 410


def test_inviting_a_current_member_is_explained(
    client, org_admin, make_member, northwind
):
    make_member(email="carl@northwind.example", organisation_id=northwind.id)
    response = invite(client, "carl@northwind.example")
    assert response.status_code == 409
    assert "already a member of Northwind Traders" in response.get_data(as_text=True)


@pytest.mark.parametrize("email", ["", "not-an-email", "a@" + "b" * 260 + ".example"])
def test_a_bad_address_is_explained_and_nothing_sent(client, db, org_admin, email):
    response = invite(client, email)
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_removing_a_member_takes_them_out_and_tells_them(
    client, db, org_admin, northwind, make_member
):
    carl = make_member(
        email="carl@northwind.example", role="org_admin", organisation_id=northwind.id
    )
    assert post(client, f"/org/members/{carl.id}/remove").status_code == 302
    db.session.expire_all()
    carl = db.session.get(Member, carl.id)
    assert carl.organisation_id is None and carl.role == Role.MEMBER
    assert (
        db.session.scalar(
            select(OutboxMessage.subject).where(OutboxMessage.to_address == carl.email)
        )
        == "You are no longer a member of Northwind Traders on Tessera"
    )


def test_an_org_admin_cannot_remove_themselves(client, db, org_admin, northwind):
    response = post(client, f"/org/members/{org_admin.id}/remove")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Member, org_admin.id).organisation_id == northwind.id


def test_another_organisations_objects_are_404(client, db, org_admin, make_member):
    contoso = make_organisation(db, name="Contoso")
    dana = make_member(email="dana@contoso.example", organisation_id=contoso.id)
    theirs = OrganisationInvitation(
        organisation_id=contoso.id,
        email="x@contoso.example",
        email_key="x@contoso.example",
        expires_at=utcnow() + timedelta(days=7),
    )
    db.session.add(theirs)
    db.session.commit()
    invoice_id = issued_invoice(organisation=contoso)
    assert post(client, f"/org/members/{dana.id}/remove").status_code == 404
    assert post(client, f"/org/invitations/{theirs.id}/revoke").status_code == 404
    assert client.get(f"/org/invoices/{invoice_id}").status_code == 404
    db.session.expire_all()
    assert db.session.get(Member, dana.id).organisation_id == contoso.id
    assert db.session.get(OrganisationInvitation, theirs.id).state == (
        InvitationState.PENDING
    )


def test_usage_counts_this_months_allowance_and_reveals(
    client, db, org_admin, northwind
):
    with ledger.write_transaction() as session:
        ledger.record(session, org_admin.id, 200, EntryKind.ALLOWANCE, "t:allowance")
        ledger.record(session, org_admin.id, -10, EntryKind.UNLOCK, "t:unlock")
    html = client.get("/org").get_data(as_text=True)
    assert re.search(r"Allowance granted</dt><dd>200 points", html)
    assert re.search(r"Points spent on reveals</dt><dd>10<", html)


def test_the_nav_offers_the_organisation_only_to_its_admins(
    app, client, org_admin, make_member
):
    assert 'href="/org"' in client.get("/").get_data(as_text=True)
    make_member(email="root@tessera.example", role="admin")
    assert 'href="/org"' not in signed_in(app, "root@tessera.example").get(
        "/"
    ).get_data(as_text=True)


_app = None


def _start_process(config: dict) -> None:
    global _app
    from portal import create_app
    from tests.clock import start_shifted_clock

    start_shifted_clock()
    _app = create_app(config)


def _accept(args: tuple[str, int, float]) -> str:
    from portal import tokens
    from portal.extensions import db
    from portal.models import Member
    from portal.org import services

    token, member_id, start_at = args
    time.sleep(max(0.0, start_at - time.monotonic()))
    with _app.app_context():
        try:
            member = db.session.get(Member, member_id)
            services.accept(db.session, token, member, utcnow())
            db.session.commit()
        except tokens.TokenRefused:
            db.session.rollback()
            return "refused"
        return "joined"


def test_one_link_opened_at_once_in_many_tabs_joins_once(
    app_config, client, db, org_admin, northwind, make_member
):
    bob = make_member(email="bob@northwind.example")
    invite(client, bob.email)
    token = last_link(db, bob.email)
    context = multiprocessing.get_context("spawn")
    with context.Pool(4, initializer=_start_process, initargs=(app_config,)) as pool:
        pool.map(time.sleep, [0.1] * 4)
        start_at = time.monotonic() + 1.0
        results = pool.map(_accept, [(token, bob.id, start_at)] * 4)
    assert sorted(results) == ["joined"] + ["refused"] * 3
    audit_joins = db.session.scalar(
        select(func.count()).where(OrganisationInvitation.state == "accepted")
    )
    assert audit_joins == 1
