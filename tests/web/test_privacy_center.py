"""The privacy center for the people listed: asking for a link without
revealing who is listed, the link itself, the report behind it, and each
action's effects."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from portal import ledger
from portal.disclosures import record_disclosures
from portal.models import (
    Contact,
    ContactConfirmation,
    DisclosureChannel,
    Flag,
    FlagSource,
    OneTimeToken,
    OutboxMessage,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestState,
    Revision,
    RevisionKind,
    RevisionSource,
    SuppressionEntry,
    Unlock,
)
from tests.factories import PRIYA
from tests.privacy_helpers import (
    ask_for_link,
    contribute_as,
    emailed_links,
    open_report,
    report_csrf,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def priya(app, db, make_member, clock):
    """Priya's record, contributed by one member and revealed by another."""
    contributor = make_member(email="contributor@northwind.example")
    contact = contribute_as(db, contributor, now=NOW - timedelta(days=2)).contact
    reader = make_member(email="reader@contoso.example")
    db.session.add(Unlock(member_id=reader.id, contact_id=contact.id, cost=10))
    record_disclosures(
        db.session,
        [contact.id],
        reader,
        DisclosureChannel.UNLOCK,
        NOW - timedelta(days=1),
    )
    db.session.commit()
    return contact, contributor, reader


def _report_for(client, db, email):
    ask_for_link(client, email)
    (_, token), *_ = emailed_links(db, email)
    return open_report(client, token)


def test_known_and_unknown_addresses_get_the_same_answer(app, client, db, priya):
    """Same status and same page for a listed and an unlisted address; only the
    listed one gets an email, with a link on PUBLIC_URL."""
    app.config["PUBLIC_URL"] = "https://tessera.example.org"
    known = ask_for_link(client, PRIYA["email"])
    unknown = ask_for_link(client, "nobody.here@brightwater-analytics.com")
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    assert "Check your inbox" in known.get_data(as_text=True)
    links = emailed_links(db, PRIYA["email"])
    assert len(links) == 1
    assert links[0][0].startswith("https://tessera.example.org/privacy/open/")
    assert emailed_links(db, "nobody.here@brightwater-analytics.com") == []


def test_the_link_token_is_strong_and_stored_hashed(client, db, priya):
    """32+ random bytes, only a hash in the database, valid 10 minutes."""
    ask_for_link(client, PRIYA["email"])
    (_, token), *_ = emailed_links(db, PRIYA["email"])
    selector, verifier = token.split(".")
    assert len(verifier) >= 43  # 32 bytes, base64url
    row = db.session.scalar(
        select(OneTimeToken).where(OneTimeToken.selector == selector)
    )
    assert verifier not in row.verifier_hash
    assert row.expires_at - row.created_at == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("priya@gmail.com", "business email addresses only"),
        ("jane.doe@", "not a valid email address"),
        ("", "Enter the business email address"),
    ],
)
def test_bad_addresses_get_a_clear_message(client, db, email, message):
    """Free-mail and malformed addresses are refused with a message."""
    response = ask_for_link(client, email)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_many_requests_for_one_address_send_few_emails(client, db, priya):
    """100 requests for one address: rate-limited, at most 3 emails sent."""
    statuses = [ask_for_link(client, PRIYA["email"]).status_code for _ in range(100)]
    assert statuses.count(429) >= 95
    assert len(emailed_links(db, PRIYA["email"])) <= 3


def test_requests_from_one_address_are_limited_per_ip(app, client, db):
    """One IP cannot probe many addresses."""
    app.config["PRIVACY_LIMIT_PER_IP"] = "5 per hour"
    statuses = [
        ask_for_link(client, f"person{i}@brightwater-analytics.com").status_code
        for i in range(8)
    ]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3


def test_report_shows_sources_recipients_and_might_be_you(
    client, db, priya, make_contact
):
    """Behind the link: the record, each field's source and date, who received
    it, and a namesake at the same domain marked "might be you"."""
    contact, contributor, reader = priya
    namesake = make_contact(
        company=contact.company,
        first_name="Priya",
        last_name="Raman",
        email="p.raman@brightwater-analytics.com",
    )
    page = _report_for(client, db, PRIYA["email"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page.headers["Cache-Control"]
    assert "VP Sales EMEA" in html
    assert f"Added by member {contributor.pseudonym} on the form" in html
    assert f"member {reader.pseudonym} revealed it on" in html
    assert "Might be you" in html
    assert f'id="record-{namesake.id}"' in html
    assert "p.raman@brightwater-analytics.com" not in html  # masked


def test_link_works_once_and_says_why_not_after(client, db, priya):
    """A used link gets a clear page offering a new one."""
    ask_for_link(client, PRIYA["email"])
    (_, token), *_ = emailed_links(db, PRIYA["email"])
    open_report(client, token)
    again = client.get(f"/privacy/open/{token}")
    assert again.status_code == 410
    text = again.get_data(as_text=True)
    assert "already been used" in text
    assert "Get a new link" in text


def test_expired_link_offers_a_new_one(client, db, priya, clock):
    """Past 10 minutes the link says it expired."""
    ask_for_link(client, PRIYA["email"])
    (_, token), *_ = emailed_links(db, PRIYA["email"])
    clock.shift(timedelta(minutes=11))
    response = client.get(f"/privacy/open/{token}")
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)


def test_tampered_link_is_refused(client, db, priya):
    """Changing one character of the verifier makes the link invalid."""
    ask_for_link(client, PRIYA["email"])
    (_, token), *_ = emailed_links(db, PRIYA["email"])
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = client.get(f"/privacy/open/{tampered}")
    assert response.status_code == 400
    assert "not valid" in response.get_data(as_text=True)


def test_report_needs_the_session_and_it_ends(client, db, priya, clock):
    """Without the link's session, or after it ends, the report is not shown."""
    assert client.get("/privacy/report").status_code == 401
    _report_for(client, db, PRIYA["email"])
    clock.shift(timedelta(minutes=31))
    response = client.get("/privacy/report")
    assert response.status_code == 401
    assert "session has ended" in response.get_data(as_text=True)


def test_actions_need_csrf(client, db, priya):
    """An action without the CSRF token changes nothing."""
    contact, *_ = priya
    _report_for(client, db, PRIYA["email"])
    response = client.post(f"/privacy/report/{contact.id}/erase", data={})
    assert response.status_code in (400, 422)
    assert db.session.get(Contact, contact.id) is not None


def test_confirm_badges_the_contact_and_vests_points(client, db, priya, auth):
    """Confirmed by the person: the badge shows and the contributor's points vest."""
    contact, contributor, reader = priya
    assert ledger.balance(db.session, contributor.id).pending == 5
    _report_for(client, db, PRIYA["email"])
    response = client.post(
        f"/privacy/report/{contact.id}/confirm",
        data={"csrf_token": report_csrf(client)},
    )
    assert response.status_code == 303
    db.session.expire_all()
    balance = ledger.balance(db.session, contributor.id)
    assert balance.pending == 0
    confirmation = db.session.scalar(select(ContactConfirmation))
    assert confirmation.source == "subject"
    assert "Confirmed by the person" in client.get("/privacy/report").get_data(
        as_text=True
    )
    auth.login(reader.email)
    detail = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Confirmed by the person" in detail
    request = db.session.scalar(
        select(PrivacyRequest).where(PrivacyRequest.kind == PrivacyRequestKind.CONFIRM)
    )
    assert request.state == PrivacyRequestState.COMPLETE
    assert request.email is None


def test_correct_applies_a_subject_revision_and_tells_recipients(client, db, priya):
    """A correction is applied at once as source subject; recipients are told."""
    contact, contributor, reader = priya
    _report_for(client, db, PRIYA["email"])
    response = client.post(
        f"/privacy/report/{contact.id}/correct",
        data={"csrf_token": report_csrf(client), "field": "title", "value": "CRO"},
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).title == "CRO"
    revision = db.session.scalar(
        select(Revision).where(Revision.kind == RevisionKind.CORRECTION)
    )
    assert revision.source == RevisionSource.SUBJECT
    assert revision.fields == {"title": "CRO"}
    told = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "privacy_correction")
    )
    assert told.to_address == reader.email
    assert PRIYA["email"] not in told.body_text
    assert "Corrected by you" in client.get("/privacy/report").get_data(as_text=True)


def test_bad_correction_is_refused_with_the_reason(client, db, priya):
    """A correction failing the entry checks is refused with its message."""
    contact, *_ = priya
    _report_for(client, db, PRIYA["email"])
    response = client.post(
        f"/privacy/report/{contact.id}/correct",
        data={
            "csrf_token": report_csrf(client),
            "field": "phone",
            "value": "+44 7911 123456",
        },
    )
    assert response.status_code == 422
    assert "mobile" in response.get_data(as_text=True).lower()


def test_erase_removes_everything_and_keeps_them_out(
    app, client, db, priya, auth, make_member
):
    """Erasure: the contact is gone (and from the reader's My contacts),
    suppressed, recipients told, and nothing personal is left."""
    contact, contributor, reader = priya
    contact_id = contact.id
    _report_for(client, db, PRIYA["email"])
    response = client.post(
        f"/privacy/report/{contact_id}/erase",
        data={"csrf_token": report_csrf(client), "kind": "erase"},
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Contact, contact_id) is None
    assert db.session.scalar(select(func.count(SuppressionEntry.id))) == 1
    told = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "privacy_erasure")
    )
    assert told.to_address == reader.email
    # Nothing personal left: no clear email or name anywhere we keep.
    for message in db.session.scalars(select(OutboxMessage)):
        assert PRIYA["email"] not in (message.to_address + message.body_text)
        assert "Raman" not in message.body_text
    for request in db.session.scalars(select(PrivacyRequest)):
        assert request.email is None
    assert (
        db.session.scalar(
            select(func.count(OneTimeToken.id)).where(
                OneTimeToken.subject.contains(PRIYA["email"])
            )
        )
        == 0
    )
    # Gone from the reader's My contacts.
    client.post("/privacy/report/end", data={"csrf_token": report_csrf(client)})
    auth.login(reader.email)
    assert "Priya" not in client.get("/my/contacts").get_data(as_text=True)
    # And nobody can add her again.
    again_by = make_member(email="again@fabrikam.example")
    from portal.contacts.services import ContributionRefused

    with pytest.raises(ContributionRefused, match="asked not to be listed"):
        contribute_as(db, again_by, now=NOW)


def test_dispute_opens_a_top_priority_flag(client, db, priya):
    """A dispute is a moderation flag of the people's source, first in line."""
    contact, *_ = priya
    _report_for(client, db, PRIYA["email"])
    response = client.post(
        f"/privacy/report/{contact.id}/dispute",
        data={"csrf_token": report_csrf(client), "details": "I left in 2025."},
    )
    assert response.status_code == 303
    flag = db.session.scalar(select(Flag))
    assert flag.source == FlagSource.SUBJECT
    assert flag.priority == 0
    assert "I left in 2025." in flag.details
    request = db.session.scalar(
        select(PrivacyRequest).where(PrivacyRequest.details["dispute"].as_boolean())
    )
    assert request.state == PrivacyRequestState.PENDING


def test_download_holds_records_sources_recipients_requests(client, db, priya):
    """The JSON download has every part of the report."""
    contact, contributor, reader = priya
    _report_for(client, db, PRIYA["email"])
    response = client.get("/privacy/report.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data())
    (record,) = data["records"]
    fields = {f["field"]: f for f in record["fields"]}
    assert fields["title"]["value"] == "VP Sales EMEA"
    assert contributor.pseudonym in fields["title"]["source"]
    assert record["recipients"][0]["how"] == "revealed it"
    assert data["requests"][0]["kind"] == "access"


def test_someone_elses_record_cannot_be_acted_on(client, db, priya, make_contact):
    """The session's email acts only on its own records."""
    other = make_contact()
    _report_for(client, db, PRIYA["email"])
    response = client.post(
        f"/privacy/report/{other.id}/erase",
        data={"csrf_token": report_csrf(client), "kind": "erase"},
    )
    assert response.status_code == 422
    assert db.session.get(Contact, other.id) is not None


def test_might_be_you_record_can_be_disputed_not_erased(
    client, db, priya, make_contact
):
    """A namesake at the person's domain can be sent to a moderator, but not
    erased by the person."""
    contact, *_ = priya
    namesake = make_contact(
        company=contact.company,
        first_name="Priya",
        last_name="Raman",
        email="p.raman@brightwater-analytics.com",
    )
    _report_for(client, db, PRIYA["email"])
    erase = client.post(
        f"/privacy/report/{namesake.id}/erase",
        data={"csrf_token": report_csrf(client), "kind": "erase"},
    )
    assert erase.status_code == 422
    dispute = client.post(
        f"/privacy/report/{namesake.id}/dispute",
        data={"csrf_token": report_csrf(client), "details": "This is me, twice."},
    )
    assert dispute.status_code == 303
    flag = db.session.scalar(select(Flag))
    assert flag.contact_id == namesake.id and flag.source == FlagSource.SUBJECT
