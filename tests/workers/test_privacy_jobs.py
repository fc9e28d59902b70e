"""The privacy center's background work: Art 14 notices for every path a
contact becomes active by (none for demo data), their batched sending, the
"remove me" link, and bulk suppression from files of SHA-256 hashes."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import queue
from portal.cli import contacts_group
from portal.contactfields import CONTACT_FIELDS
from portal.contacts.services import (
    ContributionRefused,
    confirm_contact,
)
from portal.demo import generate_demo_data
from portal.disclosures import record_disclosures
from portal.models import (
    ConfirmationSource,
    Contact,
    ContactNotice,
    ContactState,
    ContributionRow,
    DisclosureChannel,
    NoticeState,
    OutboxMessage,
    SuppressionEntry,
    SuppressionFile,
    Unlock,
)
from portal.models.base import utcnow
from portal.privacy.bulk import HashFileRefused, read_hash_file
from portal.privacy.notices import send_queued_notices
from portal.suppression import digest_hash
from tests.conftest import csrf_token_from
from tests.factories import PRIYA
from tests.privacy_helpers import contribute_as


def _notices(db) -> list[ContactNotice]:
    db.session.expire_all()
    return list(db.session.scalars(select(ContactNotice).order_by(ContactNotice.id)))


def _person(n: int) -> dict[str, str]:
    return {
        **PRIYA,
        "first_name": ["Ana", "Ben", "Cleo", "Dev", "Eva", "Finn"][n],
        "last_name": ["Silva", "Okafor", "Martin", "Patel", "Novak", "Berg"][n],
        "email": f"person{n}.staff@brightwater-analytics.com",
        "phone": "",
    }


def _csv(people: list[dict[str, str]]) -> str:
    rows = io.StringIO()
    writer = csv.DictWriter(rows, fieldnames=CONTACT_FIELDS)
    writer.writeheader()
    writer.writerows(people)
    return rows.getvalue()


def _upload(client, people: list[dict[str, str]]) -> None:
    """A member's CSV upload of ``people`` through the import page."""
    token = csrf_token_from(client.get("/contacts/import").get_data(as_text=True))
    client.post(
        "/contacts/import",
        data={
            "csrf_token": token,
            "attest": "y",
            "file": (io.BytesIO(_csv(people).encode()), "people.csv"),
        },
        content_type="multipart/form-data",
    )


def _operator_import(app, db, folder: Path, people: list[dict[str, str]]):
    """``portal contacts import`` of ``people``; returns the CLI result."""
    path = folder / "people.csv"
    path.write_text(_csv(people), encoding="utf-8")
    result = app.test_cli_runner().invoke(contacts_group, ["import", str(path)])
    db.session.rollback()
    return result


def test_form_contribution_queues_one_notice(app, db, make_member):
    """A contact accepted on the form queues its notice, once."""
    outcome = contribute_as(db, make_member())
    (notice,) = _notices(db)
    assert notice.contact_id == outcome.contact.id
    assert notice.state == NoticeState.QUEUED
    assert notice.source == "member"


def test_held_contact_gets_its_notice_when_a_moderator_releases_it(
    app, db, make_member
):
    """A held contact is not told until it becomes active."""
    values = {**PRIYA, "email": "priya.raman@other-domain-test.com"}
    outcome = contribute_as(db, make_member(), values)
    assert outcome.status == "held"
    assert _notices(db) == []
    moderator = make_member(role="moderator")
    confirm_contact(
        db.session,
        outcome.contact,
        moderator.id,
        ConfirmationSource.MODERATOR,
        utcnow(),
    )
    db.session.commit()
    (notice,) = _notices(db)
    assert notice.contact_id == outcome.contact.id


def test_member_csv_upload_queues_notices(app, db, client, auth, make_member, run_jobs):
    """Each contact a member's CSV adds is queued for its notice."""
    make_member(email="uploader@northwind.example")
    auth.login("uploader@northwind.example")
    _upload(client, [_person(0), _person(1)])
    run_jobs()
    assert len(_notices(db)) == 2


def test_operator_import_queues_notices_in_bulk(app, db, tmp_path):
    """The operator import queues a notice per active contact it loads."""
    result = _operator_import(app, db, tmp_path, [_person(n) for n in range(4)])
    assert result.exit_code == 0, result.output
    notices = _notices(db)
    assert len(notices) == 4
    assert {n.source for n in notices} == {"operator_import"}


def test_demo_data_uses_reserved_domains_and_queues_no_notice(app, db):
    """Seeded contacts are all at .example domains and nobody is told."""
    generate_demo_data(contacts=60, seed=3)
    db.session.expire_all()
    emails = db.session.scalars(select(Contact.email)).all()
    assert len(emails) == 60
    assert all(email.endswith(".example") for email in emails)
    assert _notices(db) == []


def test_notice_job_sends_in_batches_and_logs_on_the_contact(
    app, db, make_member, run_jobs
):
    """Queued notices go out at most NOTICE_BATCH_SIZE a run, oldest first,
    each with the privacy center and a signed remove-me link."""
    app.config["NOTICE_BATCH_SIZE"] = 2
    member = make_member()
    for n in range(5):
        contribute_as(db, member, _person(n))
    queue.start_job("send_privacy_notices")
    db.session.commit()
    run_jobs()
    sent = [n for n in _notices(db) if n.state == NoticeState.SENT]
    assert len(sent) == 2
    queue.start_job("send_privacy_notices")
    queue.start_job("send_privacy_notices")
    db.session.commit()
    run_jobs()
    notices = _notices(db)
    assert all(n.state == NoticeState.SENT and n.sent_at for n in notices)
    messages = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "privacy_notice")
    ).all()
    assert len(messages) == 5
    body = messages[0].body_text
    assert "Article 6(1)(f)" in body
    assert "/privacy/remove/" in body
    assert {n.outbox_message_id for n in notices} == {m.id for m in messages}


def test_remove_me_link_erases_the_record(app, db, client, make_member, run_jobs):
    """The notice's one-click link deletes the contact and suppresses it."""
    contact_id = contribute_as(db, make_member()).contact.id
    queue.start_job("send_privacy_notices")
    db.session.commit()
    run_jobs()
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "privacy_notice")
    )
    link = re.search(r"https?://\S+(/privacy/remove/\S+)", message.body_text)[1]
    page = client.get(link)
    assert page.status_code == 200
    csrf = csrf_token_from(page.get_data(as_text=True))
    done = client.post(link, data={"csrf_token": csrf})
    assert done.status_code == 200
    assert "You are removed" in done.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, contact_id) is None
    assert client.get(link).status_code == 410
    tampered = link[:-3] + ("abc" if not link.endswith("abc") else "xyz")
    assert client.get(tampered).status_code == 410


def _sha(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def test_hash_files_are_read_as_lines_or_csv():
    """Plain lines, a CSV with a hash column; bad lines are counted."""
    a, b = _sha("a@x.com"), _sha("b@x.com")
    plain = read_hash_file(f"{a}\n{b.upper()}\nnot-a-hash\n{a}\n".encode())
    assert plain.hashes == [a, b] and plain.invalid_lines == 1
    table = read_hash_file(f"id,hash\n1,{a}\n2,{b}\n".encode())
    assert table.hashes == [a, b]
    with pytest.raises(HashFileRefused, match="hash column"):
        read_hash_file(f"id,other\n1,{a}\n".encode())
    with pytest.raises(HashFileRefused, match="No SHA-256"):
        read_hash_file(b"hello\nworld\n")


def test_bulk_suppression_removes_matches_and_keeps_them_out(
    app, db, client, auth, make_member, run_jobs, tmp_path
):
    """An uploaded hash file erases matching contacts (recipients told), counts
    what it did, and the same people cannot be added again by any path."""
    contributor = make_member(email="contributor@northwind.example")
    kept = contribute_as(db, contributor, _person(1)).contact
    gone = contribute_as(db, contributor, _person(0)).contact
    reader = make_member(email="reader@contoso.example")
    db.session.add(Unlock(member_id=reader.id, contact_id=gone.id, cost=10))
    record_disclosures(
        db.session, [gone.id], reader, DisclosureChannel.UNLOCK, utcnow()
    )
    db.session.commit()
    gone_id, kept_id = gone.id, kept.id
    make_member(email="admin@northwind.example", role="admin")
    auth.login("admin@northwind.example")
    content = "hash\n" + "\n".join(
        [
            _sha(" Person0.Staff@Brightwater-Analytics.com "),
            _sha("nobody@else.com"),
            "junk",
        ]
    )
    token = csrf_token_from(client.get("/admin/suppressions").get_data(as_text=True))
    response = client.post(
        "/admin/suppressions",
        data={"csrf_token": token, "file": (io.BytesIO(content.encode()), "drop.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    run_jobs()
    assert db.session.get(Contact, gone_id) is None
    assert db.session.get(Contact, kept_id) is not None
    upload = db.session.scalar(select(SuppressionFile))
    assert (upload.hashes_read, upload.invalid_lines) == (2, 1)
    assert (upload.new_entries, upload.contacts_removed) == (2, 1)
    assert upload.hashes is None
    page = client.get("/admin/suppressions").get_data(as_text=True)
    assert "drop.txt" in page
    told = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "privacy_erasure")
    )
    assert told.to_address == reader.email
    # No clear hash and no address is stored, only keyed forms.
    stored = db.session.scalars(select(SuppressionEntry.email_hash)).all()
    assert _sha("person0.staff@brightwater-analytics.com") not in stored
    # The form refuses the person again...
    with pytest.raises(ContributionRefused, match="asked not to be listed"):
        contribute_as(db, make_member(), _person(0))
    # ...and so does the operator import.
    _operator_import(app, db, tmp_path, [_person(0)])
    assert (
        db.session.scalar(
            select(func.count(Contact.id)).where(
                Contact.email == "person0.staff@brightwater-analytics.com"
            )
        )
        == 0
    )


def test_reupload_of_the_same_hashes_adds_nothing_twice(
    app, db, client, auth, make_member, run_jobs
):
    """Uploading a file twice keeps one entry per hash."""
    make_member(email="admin@northwind.example", role="admin")
    auth.login("admin@northwind.example")
    content = _sha("someone@brightwater-analytics.com").encode()
    for _ in range(2):
        token = csrf_token_from(
            client.get("/admin/suppressions").get_data(as_text=True)
        )
        client.post(
            "/admin/suppressions",
            data={"csrf_token": token, "file": (io.BytesIO(content), "drop.txt")},
            content_type="multipart/form-data",
        )
        run_jobs()
    assert db.session.scalar(select(func.count(SuppressionEntry.id))) == 1


def test_suppression_upload_refuses_bad_files(app, db, client, auth, make_member):
    """A file without hashes gets a clear message and starts nothing."""
    make_member(email="admin@northwind.example", role="admin")
    auth.login("admin@northwind.example")
    token = csrf_token_from(client.get("/admin/suppressions").get_data(as_text=True))
    response = client.post(
        "/admin/suppressions",
        data={"csrf_token": token, "file": (io.BytesIO(b"hello\n"), "x.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "No SHA-256 hashes found" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(SuppressionFile.id))) == 0


def test_state_is_kept_for_a_contact_not_yet_active(app, db, make_member):
    """A queued notice for a contact that became disputed waits."""
    outcome = contribute_as(db, make_member())
    outcome.contact.state = ContactState.DISPUTED
    db.session.commit()
    sent = send_queued_notices(
        db.session, lambda c, s: None, utcnow() + timedelta(minutes=1), batch_size=10
    )
    assert sent == 0


def _suppress_by_platform_hash(app, db, email: str) -> None:
    """As a deletion platform's file would: only the SHA-256 is known."""
    db.session.add(
        SuppressionEntry(
            email_hash=digest_hash(app.config["SUPPRESSION_KEY"], _sha(email)),
            reason="deletion platform",
        )
    )
    db.session.commit()


def test_platform_hash_holds_on_the_form(app, db, client, auth, make_member):
    """The contribution form refuses a person a platform file suppressed."""
    _suppress_by_platform_hash(app, db, _person(2)["email"])
    make_member(email="former@northwind.example")
    auth.login("former@northwind.example")
    token = csrf_token_from(client.get("/contacts/new").get_data(as_text=True))
    response = client.post(
        "/contacts/new", data={**_person(2), "attest": "y", "csrf_token": token}
    )
    assert "asked not to be listed" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Contact.id))) == 0


def test_platform_hash_holds_in_member_csv_uploads(
    app, db, client, auth, make_member, run_jobs
):
    """A member's CSV row for a suppressed person is refused with the reason."""
    _suppress_by_platform_hash(app, db, _person(3)["email"])
    make_member(email="uploader@northwind.example")
    auth.login("uploader@northwind.example")
    _upload(client, [_person(3), _person(4)])
    run_jobs()
    emails = db.session.scalars(select(Contact.email)).all()
    assert emails == [_person(4)["email"]]
    reasons = db.session.scalars(select(ContributionRow.reason)).all()
    assert any(reason and "asked not to be listed" in reason for reason in reasons)


def test_platform_hash_holds_in_the_operator_import(app, db, tmp_path):
    """The operator import refuses the suppressed row and loads the rest."""
    _suppress_by_platform_hash(app, db, _person(5)["email"])
    _operator_import(app, db, tmp_path, [_person(5), _person(1)])
    assert db.session.scalars(select(Contact.email)).all() == [_person(1)["email"]]
