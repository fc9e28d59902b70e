"""The list service's jobs: match run (chunked), quote, accept, merge."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.billing.rules import BillingRules
from portal.lists import delivery, files
from portal.lists import run as list_run
from portal.models import (
    Disclosure,
    DisclosureChannel,
    Invoice,
    InvoiceState,
    JobRun,
    JobState,
    ListState,
    MatchListChunk,
    MatchListRow,
)
from portal.models.base import utcnow
from tests.lists_helpers import (
    make_org_member,
    make_pool,
    read_csv_rows,
    upload_list,
)


def _rows(db, match_list):
    return db.session.scalars(
        select(MatchListRow)
        .where(MatchListRow.list_id == match_list.id)
        .order_by(MatchListRow.position)
    ).all()


def test_match_run_writes_every_row_and_quotes(app, db, factories, run_jobs):
    """Each row gets its status, confidence, contact and field statuses; the
    list is quoted for the rows we add to or update."""
    robert, carla = make_pool(factories)
    member = make_org_member(factories)
    match_list = upload_list(app, member)
    assert match_list.state == ListState.MATCHING
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.state == ListState.QUOTED, match_list.message
    rows = _rows(db, match_list)
    assert [(r.record_id, r.status) for r in rows] == [
        ("101", "matched"),  # Bob = Robert; the unmapped Notes formula is kept
        ("102", "not_found"),
        ("103", "invalid"),
        ("104", "moved"),
        ("105", "matched"),
    ]
    assert rows[0].contact_id == robert.id
    assert rows[0].fields["title"] == "different"
    assert rows[2].reason == "no name"
    assert rows[3].contact_id == robert.id
    assert rows[3].fields["phone"] == "added"
    assert rows[4].contact_id == carla.id and rows[4].confidence == 100
    assert rows[4].fields == {
        "email": "same",
        "phone": "missing",
        "title": "same",
        "city": "missing",
        "country": "missing",
    }
    assert match_list.summary["statuses"]["invalid"] == 1
    assert match_list.matched_rows == 3
    # Both Robert rows gain details; Carla is fully in sync, so free.
    assert match_list.delivered_records == 2
    assert match_list.quote_total == Decimal("1.00")
    assert match_list.quote_currency == "EUR"
    assert match_list.summary["per_field_changes"]["phone"] == {
        "added": 2,
        "updated": 0,
    }
    assert match_list.summary["per_field_changes"]["title"] == {
        "added": 1,
        "updated": 1,
    }


def test_rows_are_matched_in_chunks_and_rerunning_replaces_them(
    app, db, factories, run_jobs
):
    """A list cut into chunks is matched whole; matching a chunk again
    replaces its rows rather than adding to them."""
    make_pool(factories)
    app.config["LIST_CHUNK_ROWS"] = 2
    member = make_org_member(factories)
    match_list = upload_list(app, member)
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.state == ListState.QUOTED
    chunks = db.session.scalars(select(MatchListChunk)).all()
    assert [(c.start, c.stop, c.state.value) for c in chunks] == [
        (0, 2, "done"),
        (2, 4, "done"),
        (4, 5, "done"),
    ]
    kinds = db.session.scalars(select(JobRun.kind).order_by(JobRun.id)).all()
    assert kinds == ["match_list"] + ["match_list_chunk"] * 3
    before = [(r.position, r.status, r.contact_id) for r in _rows(db, match_list)]
    # Matching the middle chunk again (as a retry would) writes the same rows.
    chunk = chunks[1]
    chunk.state = chunk.state.PENDING
    db.session.commit()
    rules = list_run.ListRules.from_config(app.config)
    assert list_run.run_chunk(
        db.session,
        match_list,
        chunk.id,
        999,
        root=app.config["INSTANCE_PATH"],
        rules=rules,
        match_chunk_rows=100,
        now=utcnow,
    )
    after = [(r.position, r.status, r.contact_id) for r in _rows(db, match_list)]
    assert after == before


def test_a_chunk_held_by_another_run_is_not_taken(app, db, factories):
    """A chunk claimed by a live run is left to it; a stale claim is taken over."""
    make_pool(factories)
    app.config["LIST_CHUNK_ROWS"] = 2
    member = make_org_member(factories)
    match_list = upload_list(app, member)
    run = db.session.get(JobRun, match_list.match_run_id)
    rules = list_run.ListRules.from_config(app.config)
    chunks = list_run.plan_chunks(db.session, match_list, run, rules)
    db.session.commit()
    now = utcnow()
    assert list_run.claim_chunk(db.session, chunks[0].id, 1, now, rules)
    assert not list_run.claim_chunk(db.session, chunks[0].id, 2, now, rules)
    later = now + timedelta(seconds=rules.chunk_stale_seconds + 1)
    assert list_run.claim_chunk(db.session, chunks[0].id, 2, later, rules)


def test_accept_and_merge_deliver_once(app, db, factories, run_jobs):
    """Accepting starts the merge: the output file has their columns with ours
    filled in, the change report lists the changes, one disclosure per
    delivered contact goes to the organisation, one invoice is issued; a
    second acceptance is refused."""
    robert, _ = make_pool(factories)
    member = make_org_member(factories)
    match_list = upload_list(app, member)
    run_jobs()
    db.session.refresh(match_list)
    delivery.accept_quote(db.session, match_list, member=member, now=utcnow())
    db.session.commit()
    with pytest.raises(delivery.QuoteNotAcceptable):
        delivery.accept_quote(db.session, match_list, member=member, now=utcnow())
    db.session.rollback()
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.state == ListState.DELIVERED
    root = app.config["INSTANCE_PATH"]
    output = read_csv_rows(delivery.output_path(root, match_list).read_bytes())
    assert output[0][-3:] == [
        "tessera_status",
        "tessera_confidence",
        "tessera_changes",
    ]
    assert output[0][:7] == [
        "Record ID", "First Name", "Last Name", "Company Name", "Email",
        "Job Title", "Notes",
    ]  # fmt: skip
    bob = output[1]
    assert bob[0] == "101" and bob[4] == "robert.whitfield@acme.com"
    assert bob[5] == "Head of Sales" and bob[6] == '\'=HYPERLINK("http://x")'
    assert output[4][0] == "104" and output[4][-3] == "moved"
    # A phone reaches the CRM as it is: a spreadsheet does not run "+<digits>".
    assert "+442079460958" in output[4]
    changes = read_csv_rows(delivery.changes_path(root, match_list).read_bytes())
    assert changes[0] == list(delivery.CHANGES_HEADER)
    assert ["2", "101", "matched", "title", "Sales Lead", "Head of Sales"] in changes
    assert ["5", "104", "moved", "company", "Globex", "Acme Robotics Ltd"] in changes
    disclosures = db.session.scalars(select(Disclosure)).all()
    assert [
        (d.contact_id, d.organisation_id, d.member_id, d.channel) for d in disclosures
    ] == [(robert.id, member.organisation_id, None, DisclosureChannel.LIST_DELIVERY)]
    invoice = db.session.scalar(select(Invoice))
    assert invoice.state == InvoiceState.ISSUED
    assert invoice.organisation_id == member.organisation_id
    assert invoice.total == Decimal("1.00")
    assert match_list.invoice_id == invoice.id
    # Running the merge again changes nothing.
    result = delivery.run_merge(
        db.session,
        match_list,
        root=root,
        billing=BillingRules(),
        now=utcnow(),
    )
    assert result["already_delivered"]
    assert db.session.scalar(select(func.count(Invoice.id))) == 1
    assert db.session.scalar(select(func.count(Disclosure.id))) == 1
    merge_run = db.session.get(JobRun, match_list.merge_run_id)
    assert merge_run.state == JobState.SUCCEEDED
    assert files.output_name(match_list) == "crm-tessera.csv"


def _xlsx(rows: list[list[object]]) -> bytes:
    import io

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def test_an_xlsx_list_comes_back_as_xlsx(app, db, factories, run_jobs):
    """A workbook's first sheet is matched; the delivery is a workbook with
    their columns, ours filled in, and the status columns; formulas escaped."""
    make_pool(factories)
    member = make_org_member(factories)
    content = _xlsx(
        [
            ["Contact ID", "Full Name", "Account Name", "Business Phone", "Notes"],
            [1001, "Robert Whitfield", "Acme Robotics", None, "@SUM(1)"],
            [1002, "Nobody Known", "Acme Robotics", 442071234567, None],
        ]
    )
    match_list = upload_list(app, member, content=content, filename="crm.xlsx")
    assert match_list.format.value == "xlsx" and match_list.row_count == 2
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.summary["statuses"]["matched"] == 1
    delivery.accept_quote(db.session, match_list, member=member, now=utcnow())
    db.session.commit()
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.state == ListState.DELIVERED
    path = delivery.output_path(app.config["INSTANCE_PATH"], match_list)
    assert path.suffix == ".xlsx"
    rows = list(files.read_xlsx_rows(path))
    assert rows[0] == [
        "Contact ID", "Full Name", "Account Name", "Business Phone", "Notes",
        "email", "title", "city", "country",
        "tessera_status", "tessera_confidence", "tessera_changes",
    ]  # fmt: skip
    assert rows[1][:6] == [
        "1001", "Robert Whitfield", "Acme Robotics", "+442079460958", "'@SUM(1)",
        "robert.whitfield@acme.com",
    ]  # fmt: skip
    assert rows[1][9] == "matched"
    assert rows[2][9] == "not_found" and rows[2][3] == "442071234567"
    assert files.output_name(match_list) == "crm-tessera.xlsx"
    before = path.read_bytes()
    delivery.write_outputs(db.session, match_list, app.config["INSTANCE_PATH"])
    assert path.read_bytes() == before  # the same rows give the same bytes


def test_a_failed_chunk_is_given_back_and_matched_again_alone(
    app, db, factories, monkeypatch
):
    """A chunk whose matching raises is released (the done ones stay done);
    the next attempt matches only that chunk."""
    make_pool(factories)
    app.config["LIST_CHUNK_ROWS"] = 2
    member = make_org_member(factories)
    match_list = upload_list(app, member)
    run = db.session.get(JobRun, match_list.match_run_id)
    rules = list_run.ListRules.from_config(app.config)
    chunks = list_run.plan_chunks(db.session, match_list, run, rules)
    db.session.commit()
    ids = [chunk.id for chunk in chunks]
    kwargs = {
        "root": app.config["INSTANCE_PATH"],
        "rules": rules,
        "match_chunk_rows": 100,
        "now": utcnow,
    }
    assert list_run.run_chunk(db.session, match_list, ids[0], 7, **kwargs)
    real = list_run.match_rows

    def broken(*args, **kw):
        raise ConnectionError("database went away")

    monkeypatch.setattr(list_run, "match_rows", broken)
    with pytest.raises(ConnectionError):
        list_run.run_chunk(db.session, match_list, ids[1], 7, **kwargs)
    states = dict(
        db.session.execute(select(MatchListChunk.id, MatchListChunk.state)).all()
    )
    assert [states[i].value for i in ids] == ["done", "pending", "pending"]
    calls = []
    monkeypatch.setattr(
        list_run,
        "match_rows",
        lambda *a, **kw: calls.append(len(a[1])) or real(*a, **kw),
    )
    assert list_run.run_chunk(db.session, match_list, ids[1], 8, **kwargs)
    assert calls == [2]
    positions = db.session.scalars(
        select(MatchListRow.position).where(MatchListRow.list_id == match_list.id)
    ).all()
    assert sorted(positions) == [0, 1, 2, 3]
