"""Bulk contribution: upload a CSV, the job checks every row, the report says why."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from portal import ledger
from portal.models import (
    Contact,
    ContributionFile,
    ContributionRow,
    FileState,
    JobRun,
    JobState,
)
from tests.conftest import csrf_token_from

HEADER = "First Name,Last Name,Job Title,Company,Website,Work Email,Phone,City,Country"
GOOD = [
    "Priya,Raman,VP Sales,Brightwater Analytics,brightwater-analytics.com,"
    "priya.raman@brightwater-analytics.com,+44 20 7946 0958,London,GB",
    "Tomasz,Nowak,Head of IT,Brightwater Analytics,brightwater-analytics.com,"
    "tomasz.nowak@brightwater-analytics.com,,London,GB",
]


def _workbook_bytes() -> bytes:
    """The start of a real .xlsx: a zip holding the workbook parts."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as workbook:
        workbook.writestr("[Content_Types].xml", "<Types/>")
        workbook.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.fixture
def member(make_member, auth):
    member = make_member(email="uploader@northwind.example")
    auth.login("uploader@northwind.example")
    return member


def upload(client, content: bytes, filename="contacts.csv", attest="y"):
    token = csrf_token_from(client.get("/contacts/import").get_data(as_text=True))
    return client.post(
        "/contacts/import",
        data={
            "csrf_token": token,
            "attest": attest,
            "file": (io.BytesIO(content), filename),
        },
        content_type="multipart/form-data",
    )


def the_file(db) -> ContributionFile:
    return db.session.scalars(select(ContributionFile)).one()


def report(client, file_id) -> list[dict]:
    response = client.get(f"/contacts/import/{file_id}/report.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_rows_are_checked_and_reported(client, member, db, run_jobs):
    """Good rows are accepted with points; bad ones refused with a reason each."""
    rows = [
        *GOOD,
        "Ana,Lopez,CFO,Brightwater Analytics,brightwater-analytics.com,"
        "ana.lopez@gmail.com,,,",
        "Jon,Smith,CTO,Brightwater Analytics,brightwater-analytics.com,"
        "jon.smith@brightwater-analytics.com,+44 7911 123456,,GB",
        "Ola,Berg,COO,Brightwater Analytics,brightwater-analytics.com,"
        "ola.berg@othermail-corp.com,,,",
        # The same email as the first row: already known.
        GOOD[0],
    ]
    response = upload(client, ("\n".join([HEADER, *rows]) + "\n").encode())
    assert response.status_code == 302
    assert run_jobs() == 1
    contribution = the_file(db)
    assert contribution.state == FileState.PENDING_REVIEW
    assert contribution.counts == {
        "accepted": 2,
        "updated": 0,
        "duplicate": 1,
        "held": 1,
        "refused": 2,
    }
    lines = report(client, contribution.id)
    by_row = {int(line["row"]): line for line in lines}
    assert by_row[4]["outcome"] == "refused" and "gmail.com" in by_row[4]["reason"]
    assert by_row[5]["outcome"] == "refused" and "mobile" in by_row[5]["reason"]
    assert by_row[6]["outcome"] == "held"
    assert by_row[7]["outcome"] == "duplicate"
    # Two accepted plus the held one earn pending points.
    assert ledger.balance(db.session, member.id).pending == 15
    page = client.get(f"/contacts/import/{contribution.id}").get_data(as_text=True)
    assert "pending review" in page


def test_processing_twice_adds_nobody_twice(client, member, db, run_jobs, app):
    """Re-running the job (a retry) keeps one report row and one contact per row."""
    from portal import queue

    upload(client, ("\n".join([HEADER, *GOOD]) + "\n").encode())
    run_jobs()
    run = db.session.scalars(select(JobRun)).one()
    queue.retry_job(run)
    db.session.commit()
    run_jobs()
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2
    assert db.session.scalar(select(func.count()).select_from(ContributionRow)) == 2
    assert ledger.balance(db.session, member.id).pending == 10
    # The raw upload is gone once processed; the finished report stays as it was.
    contribution = the_file(db)
    assert contribution.state == FileState.COMPLETED
    assert contribution.counts["accepted"] == 2


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (_workbook_bytes(), "Excel"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "CSV"),
        (b"name,colour\nPriya,blue\n", "heading"),
        (HEADER.encode() + b"\n", "no rows"),
    ],
    ids=["xlsx", "png", "no-known-headings", "headings-only"],
)
def test_bad_files_are_rejected_with_a_message(
    client, member, db, run_jobs, content, phrase
):
    """A file that is not a usable CSV is rejected as a whole, with a clear message."""
    upload(client, content)
    run_jobs()
    contribution = the_file(db)
    assert contribution.state == FileState.REJECTED
    assert phrase.lower() in contribution.message.lower()
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0
    assert db.session.scalar(select(JobRun.state)) == JobState.SUCCEEDED


def test_empty_upload_is_refused_at_once(client, member, db):
    """An empty file never becomes a job."""
    response = upload(client, b"")
    assert response.status_code == 422
    assert "empty" in response.get_data(as_text=True).lower()
    assert db.session.scalar(select(func.count()).select_from(ContributionFile)) == 0


def test_upload_needs_the_attestation(client, member, db):
    """Without the attestation the file is not taken."""
    response = upload(client, ("\n".join([HEADER, *GOOD]) + "\n").encode(), attest="")
    assert response.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(ContributionFile)) == 0


def test_encodings_huge_cells_and_formulas(client, member, db, run_jobs):
    """Latin-1 text is read; a 131,073-character cell and a formula refuse their row
    only; the report escapes formulas."""
    rows = [
        "José,Núñez,Director of Sales,Brightwater Analytics,brightwater-analytics.com,"
        "jose.nunez@brightwater-analytics.com,,Madrid,ES",
        "Big,Cell," + "x" * 131_073 + ",Brightwater Analytics,"
        "brightwater-analytics.com,big.cell@brightwater-analytics.com,,,",
        '=HYPERLINK("http://evil.example"),Evil,CEO,Brightwater Analytics,'
        "brightwater-analytics.com,evil@brightwater-analytics.com,,,",
    ]
    content = ("\n".join([HEADER, *rows]) + "\n").encode("latin-1")
    upload(client, content)
    run_jobs()
    contribution = the_file(db)
    assert contribution.counts["accepted"] == 1
    assert contribution.counts["refused"] == 2
    contact = db.session.scalars(select(Contact)).one()
    assert (contact.first_name, contact.last_name) == ("José", "Núñez")
    lines = {int(line["row"]): line for line in report(client, contribution.id)}
    assert "131,073" in lines[3]["reason"]
    assert "formula" in lines[4]["reason"]
    assert lines[4]["first_name"].startswith("'=")


def test_other_members_cannot_see_a_file(client, auth, member, make_member, db):
    """A file and its report belong to the uploader."""
    upload(client, ("\n".join([HEADER, *GOOD]) + "\n").encode())
    file_id = the_file(db).id
    make_member(email="nosy@northwind.example")
    auth.logout()
    auth.login("nosy@northwind.example")
    assert client.get(f"/contacts/import/{file_id}").status_code == 404
    assert client.get(f"/contacts/import/{file_id}/report.csv").status_code == 404


def test_interrupted_file_resumes_without_adding_twice(client, member, db, run_jobs):
    """A retried, unfinished file carries on from its report: reported rows are
    skipped, and a row whose contact exists without a report line is reported
    as a duplicate instead of being added again."""
    from portal import queue

    content = ("\n".join([HEADER, *GOOD]) + "\n").encode()
    upload(client, content)
    run_jobs()
    contribution = the_file(db)
    # Row 3's report line is missing, its contact is there.
    contribution.state = FileState.IN_PROGRESS
    contribution.content = content
    db.session.execute(
        ContributionRow.__table__.delete().where(ContributionRow.row_number == 3)
    )
    queue.retry_job(db.session.get(JobRun, contribution.job_run_id))
    db.session.commit()
    run_jobs()
    contribution = the_file(db)
    assert contribution.state == FileState.COMPLETED
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2
    assert contribution.counts == {
        "accepted": 1,
        "updated": 0,
        "duplicate": 1,
        "held": 0,
        "refused": 0,
    }
    assert ledger.balance(db.session, member.id).pending == 10
