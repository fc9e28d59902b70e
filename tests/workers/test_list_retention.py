"""Retention: list files and rows are deleted 30 days after upload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select

from portal import queue
from portal.lists import files
from portal.models import AuditEntry, ListState, MatchList, MatchListRow
from tests.lists_helpers import make_org_member, make_pool, upload_list

UPLOADED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_files_older_than_the_retention_are_deleted(app, db, factories, run_jobs):
    """The daily job deletes the file and rows of a list uploaded 30 days
    ago, keeps its counts and quote, and leaves a younger list alone."""
    make_pool(factories)
    member = make_org_member(factories)
    with time_machine.travel(UPLOADED, tick=False):
        old = upload_list(app, member)
        run_jobs()
    with time_machine.travel(UPLOADED + timedelta(days=20), tick=False):
        young = upload_list(app, member)
        run_jobs()
    with time_machine.travel(UPLOADED + timedelta(days=30, minutes=1), tick=False):
        queue.start_job("delete_expired_lists")
        db.session.commit()
        run_jobs()
    root = app.config["INSTANCE_PATH"]
    db.session.expire_all()
    old, young = db.session.get(MatchList, old.id), db.session.get(MatchList, young.id)
    assert not files.list_folder(root, old.id).exists()
    assert files.list_folder(root, young.id).is_dir()
    assert old.files_deleted_at == UPLOADED + timedelta(days=30, minutes=1)
    # Without its file the quote cannot be delivered any more.
    assert old.state == ListState.EXPIRED
    assert old.summary["statuses"]["matched"] == 2 and old.quote_total is not None
    rows = select(func.count(MatchListRow.id)).where(MatchListRow.list_id == old.id)
    assert db.session.scalar(rows) == 0
    assert young.files_deleted_at is None and young.state == ListState.QUOTED
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "lists.retention")
    )
    assert entry.details == {"lists": 1}


def test_the_retention_comes_from_configuration(app, db, factories, run_jobs):
    """LIST_RETENTION_DAYS=7 deletes after a week."""
    app.config["LIST_RETENTION_DAYS"] = 7
    member = make_org_member(factories)
    with time_machine.travel(UPLOADED, tick=False):
        match_list = upload_list(app, member, confirm=False)
    with time_machine.travel(UPLOADED + timedelta(days=8), tick=False):
        queue.start_job("delete_expired_lists")
        db.session.commit()
        run_jobs()
    db.session.expire_all()
    assert db.session.get(MatchList, match_list.id).files_deleted_at is not None
