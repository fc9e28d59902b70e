"""The list pages: upload, mapping, report, filters, accept, download, and
what another organisation sees (nothing)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.lists import files
from portal.models import (
    Flag,
    FlagKind,
    FlagSource,
    Invoice,
    ListState,
    MatchList,
    MatchListRow,
)
from tests.lists_helpers import (
    HUBSPOT,
    make_org_member,
    make_pool,
    read_csv_rows,
    upload_list,
)


def _upload(client, auth, content: bytes, filename: str = "crm.csv"):
    token = auth.csrf_token("/lists")
    return client.post(
        "/lists",
        data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def _post(client, auth, path: str, page: str, **data):
    return client.post(path, data={"csrf_token": auth.csrf_token(page), **data})


def test_upload_map_match_accept_download(app, db, client, auth, factories, run_jobs):
    """A member uploads a CRM export, confirms the proposed mapping, reads the
    masked report, filters it; the org admin accepts and downloads the file."""
    make_pool(factories)
    admin = make_org_member(factories)
    auth.login(admin.email)
    response = _upload(client, auth, HUBSPOT.encode("utf-16"))
    assert response.status_code == 302
    mapping_url = response.headers["Location"]
    page = client.get(mapping_url).get_data(as_text=True)
    # Proposed fields, with samples of each column.
    assert re.search(r'name="column-0">.*?value="record_id" selected', page, re.S)
    assert re.search(r'name="column-3">.*?value="company" selected', page, re.S)
    assert "Bob · Anna · Robert" in page
    choices = {f"column-{i}": f for i, f in enumerate(
        ["record_id", "first_name", "last_name", "company", "email", "title", ""]
    )}  # fmt: skip
    response = _post(client, auth, mapping_url, mapping_url, **choices)
    assert response.status_code == 302
    report_url = response.headers["Location"]
    assert "job-status" in client.get(report_url).get_data(as_text=True)
    run_jobs()
    page = client.get(report_url).get_data(as_text=True)
    assert "Match rate" in page and "60%" in page
    assert 'id="list-statuses"' in page  # the chart
    # Masked before acceptance: never our phone, never the whole email.
    assert "+442079460958" not in page and "r•••@acme.com" in page
    # Filtering by status (htmx gets the rows only).
    rows = client.get(report_url + "?status=invalid", headers={"HX-Request": "true"})
    text = rows.get_data(as_text=True)
    assert text.startswith('\n<section id="list-rows"') or 'id="list-rows"' in text
    assert "<html" not in text and text.count('data-status="invalid"') == 1
    assert 'data-status="matched"' not in text
    by_field = client.get(report_url + "?field=phone&field_status=added")
    assert by_field.get_data(as_text=True).count('data-status="') == 2
    response = _post(client, auth, report_url + "/accept", report_url)
    assert response.status_code == 302
    run_jobs()
    page = client.get(report_url).get_data(as_text=True)
    assert "Download the updated file" in page and "+442079460958" in page
    with client.get(report_url + "/download") as download:
        assert download.status_code == 200
        assert "crm-tessera.csv" in download.headers["Content-Disposition"]
        output = read_csv_rows(download.data)
    assert output[0][-3:] == ["tessera_status", "tessera_confidence", "tessera_changes"]
    with client.get(report_url + "/changes.csv") as changes:
        assert changes.status_code == 200
    assert db.session.scalar(select(func.count(Invoice.id))) == 1


def test_the_last_mapping_is_reused_for_the_same_headings(
    app, db, client, auth, factories, run_jobs
):
    """A second file with the same headings gets the confirmed mapping again."""
    member = make_org_member(factories, role="member")
    text = "Name,Account,Notes\nBob Whitfield,Acme,Sales\n"
    first = upload_list(app, member, text, confirm=False)
    auth.login(member.email)
    url = f"/lists/{first.id}/mapping"
    page = client.get(url).get_data(as_text=True)
    assert not re.search(r'name="column-2">.*?value="title" selected', page, re.S)
    choices = {"column-0": "full_name", "column-1": "company", "column-2": "title"}
    assert _post(client, auth, url, url, **choices).status_code == 302
    second = upload_list(app, member, text, confirm=False)
    page = client.get(f"/lists/{second.id}/mapping").get_data(as_text=True)
    assert "Proposed from the mapping confirmed for" in page
    assert re.search(r'name="column-2">.*?value="title" selected', page, re.S)


def test_a_mapping_without_names_is_refused(app, db, client, auth, factories):
    """No name column: the form says so and the list still waits."""
    member = make_org_member(factories, role="member")
    match_list = upload_list(app, member, confirm=False)
    auth.login(member.email)
    url = f"/lists/{match_list.id}/mapping"
    response = _post(client, auth, url, url, **{"column-3": "company"})
    assert response.status_code == 422
    assert "No column holds the people" in response.get_data(as_text=True)
    db.session.refresh(match_list)
    assert match_list.state == ListState.MAPPING


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "empty.csv", "The file is empty"),
        (b"PK\x03\x04" + b"\x00" * 200, "crm.zip", "zip archive"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "crm.csv", "image"),
        (b"\x00\x01\x02\x03binary\x00\xff" * 50, "crm.csv", "not"),
        (b"First Name,Last Name,Company\n", "crm.csv", "headings but no rows"),
        (b"PK\x03\x04junk", "crm.xlsx", "could not be read"),
    ],
)
def test_bad_files_are_refused_clearly(
    app, db, client, auth, factories, content, filename, message
):
    """Each bad upload gets a clear message and leaves no list behind."""
    member = make_org_member(factories, role="member")
    auth.login(member.email)
    response = _upload(client, auth, content, filename)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(MatchList.id))) == 0


def test_too_large_and_too_many_rows(app, db, client, auth, factories):
    """Over the size limit: a 413 page; over the row limit: a clear refusal."""
    app.config["LIST_MAX_BYTES"] = 1000
    app.config["LIST_MAX_ROWS"] = 3
    member = make_org_member(factories, role="member")
    auth.login(member.email)
    big = _upload(client, auth, b"First Name,Last Name,Company\n" + b"a,b,c\n" * 200)
    assert big.status_code == 413
    assert "larger than" in big.get_data(as_text=True)
    many = _upload(client, auth, b"First Name,Last Name,Company\n" + b"a,b,c\n" * 4)
    assert many.status_code == 422
    assert "the most one file may hold is 3" in many.get_data(as_text=True)
    assert db.session.scalar(select(func.count(MatchList.id))) == 0


def test_a_huge_cell_makes_its_row_invalid(app, db, factories, run_jobs):
    """A 131,073-character cell is a row problem with its reason, not a crash."""
    member = make_org_member(factories, role="member")
    text = "First Name,Last Name,Company\n" + "Ann,Lee," + "x" * 131_073 + "\n"
    match_list = upload_list(app, member, text)
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.summary["statuses"]["invalid"] == 1


def test_other_organisations_get_404_everywhere(
    app, db, client, auth, factories, run_jobs
):
    """A member of another organisation gets 404 on every route of a list."""
    make_pool(factories)
    owner = make_org_member(factories)
    match_list = upload_list(app, owner)
    run_jobs()
    stranger = make_org_member(factories)
    auth.login(stranger.email)
    base = f"/lists/{match_list.id}"
    for path in (base, base + "/mapping", base + "/progress", base + "/download",
                 base + "/changes.csv"):  # fmt: skip
        assert client.get(path).status_code == 404, path
    posts = ("/accept", "/requote", "/retry", "/mapping", "/rows/1/dispute", "/delete")
    for path in (base + tail for tail in posts):
        assert _post(client, auth, path, "/lists").status_code == 404, path


def test_only_org_admins_accept(app, db, client, auth, factories, run_jobs):
    """A plain member of the organisation reads the quote but cannot accept it."""
    make_pool(factories)
    admin = make_org_member(factories)
    member = make_org_member(factories, role="member", organisation=admin.organisation)
    match_list = upload_list(app, admin)
    run_jobs()
    auth.login(member.email)
    base = f"/lists/{match_list.id}"
    assert "Your organisation's admin can accept" in client.get(base).get_data(
        as_text=True
    )
    assert _post(client, auth, base + "/accept", base).status_code == 403
    db.session.refresh(match_list)
    assert match_list.state == ListState.QUOTED


def test_a_customer_disputes_a_row(app, db, client, auth, factories, run_jobs):
    """'Not the same person' opens one customer flag on the matched contact."""
    robert, _ = make_pool(factories)
    member = make_org_member(factories, role="member")
    match_list = upload_list(app, member)
    run_jobs()
    auth.login(member.email)
    base = f"/lists/{match_list.id}"
    row = match_list_row(db, match_list, "104")
    assert _post(client, auth, f"{base}/rows/{row.id}/dispute", base).status_code == 302
    assert _post(client, auth, f"{base}/rows/{row.id}/dispute", base).status_code == 302
    flags = db.session.scalars(select(Flag)).all()
    assert [(f.kind, f.source, f.contact_id, f.reporter_id) for f in flags] == [
        (FlagKind.LIST_MISMATCH, FlagSource.CUSTOMER, robert.id, member.id)
    ]


def match_list_row(db, match_list, record_id):
    from portal.models import MatchListRow

    return db.session.scalar(
        select(MatchListRow).where(
            MatchListRow.list_id == match_list.id, MatchListRow.record_id == record_id
        )
    )


def test_an_expired_quote_can_be_requoted_but_not_accepted(
    app, db, client, auth, factories, run_jobs, fixed_clock
):
    """After 14 days the quote cannot be accepted; a new quote re-matches."""
    make_pool(factories)
    admin = make_org_member(factories)
    match_list = upload_list(app, admin)
    run_jobs()
    base = f"/lists/{match_list.id}"
    fixed_clock.shift(timedelta(days=14, minutes=1))
    auth.login(admin.email)
    page = client.get(base).get_data(as_text=True)
    assert "This quote expired" in page and "Accept quote" not in page
    _post(client, auth, base + "/accept", base)
    db.session.refresh(match_list)
    assert match_list.state == ListState.QUOTED
    assert _post(client, auth, base + "/requote", base).status_code == 302
    db.session.refresh(match_list)
    assert match_list.state == ListState.MATCHING
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.state == ListState.QUOTED
    assert "Accept quote and deliver" in client.get(base).get_data(as_text=True)
    assert db.session.scalar(select(func.count(Invoice.id))) == 0


def test_deleting_a_list_keeps_its_summary_and_invoice(
    app, db, client, auth, factories, run_jobs
):
    """Delete removes the files and rows at once; counts and invoice stay, and
    the download is gone."""
    make_pool(factories)
    admin = make_org_member(factories)
    match_list = upload_list(app, admin)
    run_jobs()
    auth.login(admin.email)
    base = f"/lists/{match_list.id}"
    _post(client, auth, base + "/accept", base)
    run_jobs()
    folder = files.list_folder(app.config["INSTANCE_PATH"], match_list.id)
    assert folder.is_dir()
    assert _post(client, auth, base + "/delete", base).status_code == 302
    assert not folder.exists()
    db.session.refresh(match_list)
    assert match_list.files_deleted_at is not None
    assert match_list.summary["statuses"]["matched"] == 2
    assert match_list.invoice_id is not None
    assert db.session.scalar(select(func.count(MatchListRow.id))) == 0
    page = client.get(base).get_data(as_text=True)
    assert "were deleted on" in page and "Download the updated file" not in page
    assert client.get(base + "/download").status_code == 404


def test_only_org_admins_change_pooling_and_the_consent_is_kept(
    app, db, client, auth, factories
):
    """Off by default; a member cannot opt in; the admin's opt-in records who,
    when and the wording shown."""
    from portal.lists.pooling import POOLING_WORDING
    from portal.models import PoolingConsent

    admin = make_org_member(factories)
    member = make_org_member(factories, role="member", organisation=admin.organisation)
    auth.login(member.email)
    page = client.get("/lists").get_data(as_text=True)
    assert "Pooling: off" in page and "opt in to pooling" not in page
    assert (
        _post(client, auth, "/lists/pooling", "/lists", pooling="in").status_code == 403
    )
    auth.logout()
    auth.login(admin.email)
    assert (
        _post(client, auth, "/lists/pooling", "/lists", pooling="in").status_code == 302
    )
    db.session.refresh(admin.organisation)
    assert admin.organisation.pooling_opt_in is True
    consent = db.session.scalar(select(PoolingConsent))
    assert (consent.member_id, consent.opted_in, consent.wording) == (
        admin.id,
        True,
        POOLING_WORDING,
    )
    assert "Opted in by" in client.get("/lists").get_data(as_text=True)


def test_an_org_admin_schedules_a_delivered_list(
    app, db, client, auth, factories, run_jobs
):
    """Weekly with a cap from the report; a bad cap is refused; Never stops it."""
    make_pool(factories)
    admin = make_org_member(factories)
    match_list = upload_list(app, admin)
    run_jobs()
    auth.login(admin.email)
    base = f"/lists/{match_list.id}"
    _post(client, auth, base + "/accept", base)
    run_jobs()
    _post(client, auth, base + "/schedule", base, interval="weekly", price_cap="1.2.3")
    db.session.refresh(match_list)
    assert match_list.refresh_interval is None
    _post(client, auth, base + "/schedule", base, interval="weekly", price_cap="25")
    db.session.refresh(match_list)
    assert match_list.refresh_interval.value == "weekly"
    assert str(match_list.refresh_price_cap) == "25.00"
    assert "Next refresh" in client.get(base).get_data(as_text=True)
    _post(client, auth, base + "/schedule", base, interval="")
    db.session.refresh(match_list)
    assert match_list.refresh_interval is None and match_list.next_refresh_at is None


def test_a_failed_match_is_retried_from_the_page(
    app, db, client, auth, factories, run_jobs
):
    """A match that fails says so on the page; Retry matches it again."""
    make_pool(factories)
    member = make_org_member(factories, role="member")
    match_list = upload_list(app, member)
    source = files.rows_path(
        files.list_folder(app.config["INSTANCE_PATH"], match_list.id),
        match_list.format,
    )
    content = source.read_bytes()
    source.unlink()
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.state == ListState.FAILED
    auth.login(member.email)
    base = f"/lists/{match_list.id}"
    page = client.get(base).get_data(as_text=True)
    assert "Matching stopped: it stopped with an error (FileNotFoundError)" in page
    source.write_bytes(content)
    assert _post(client, auth, base + "/retry", base).status_code == 302
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.state == ListState.QUOTED
    assert match_list.summary["statuses"]["matched"] == 2
