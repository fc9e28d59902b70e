"""A worker killed mid-import: the file still finishes, every row exactly once."""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import func, select

from portal.models import (
    AuditEntry,
    Contact,
    ContributionFile,
    ContributionRow,
    FileState,
    JobState,
    RowOutcome,
)
from tests.workers import realprocess


@pytest.fixture
def observer(app_config):
    observer = realprocess.Observer(app_config["SQLALCHEMY_DATABASE_URI"])
    yield observer
    observer.close()


def _import_under_way(db, make_member, observer, app_config, log, rows, until):
    """Upload ``rows`` people, start a real worker, wait for ``until`` rows done.

    Returns the upload, the worker, the pid of its work horse and the env."""
    uploader = make_member(email="uploader@northwind.example")
    upload = realprocess.upload_member_file(db, uploader, rows)
    env = realprocess.process_env(app_config, JOB_SQLITE_YIELD_MS="0")
    worker = realprocess.start_worker(env, log)
    realprocess.wait_for(
        lambda: _rows_done(observer, upload.id) >= until, f"{until} rows to be done"
    )
    # RQ puts the horse in a process group of its own.
    horses = realprocess.work_horse_pids(worker.pid)
    assert len(horses) == 1, horses
    return upload, worker, horses[0], env


def _rows_done(observer, file_id: int) -> int:
    with observer.engine.connect() as connection:
        return connection.scalar(
            select(func.count(ContributionRow.id)).where(
                ContributionRow.file_id == file_id
            )
        )


def _finished(observer, run_id: int):
    run = observer.run(run_id)
    return run if JobState(run.state).finished else None


def _assert_every_row_once(db, upload_id: int, rows: int) -> None:
    db.session.expire_all()
    upload = db.session.get(ContributionFile, upload_id)
    assert upload.state == FileState.COMPLETED
    numbers = list(
        db.session.scalars(
            select(ContributionRow.row_number).where(
                ContributionRow.file_id == upload_id
            )
        )
    )
    assert len(numbers) == len(set(numbers)) == rows
    created = select(func.count(ContributionRow.id)).where(
        ContributionRow.outcome.in_([RowOutcome.ACCEPTED, RowOutcome.HELD])
    )
    assert db.session.scalar(select(func.count(Contact.id))) == db.session.scalar(
        created
    )
    assert sum(upload.counts.values()) == rows


def test_killing_worker_and_horse_mid_import_then_restarting_finishes_the_file(
    app_config, db, make_member, observer, tmp_path
):
    """SIGKILL the worker and its horse at ~300 rows; a new worker finishes it."""
    rows = 2000
    log = tmp_path / "workers.log"
    upload, first, horse, env = _import_under_way(
        db, make_member, observer, app_config, log, rows, until=300
    )
    try:
        os.kill(first.pid, signal.SIGKILL)
        os.kill(horse, signal.SIGKILL)
        first.wait(timeout=60)
        stranded = observer.run(upload.job_run_id)
        killed_at = _rows_done(observer, upload.id)
        assert stranded.state == JobState.RUNNING.value
        assert killed_at < rows
        second = realprocess.start_worker(env, log)
        try:
            # 1,700 rows on a loaded machine: allow it more than one deadline.
            run = realprocess.wait_for(
                lambda: _finished(observer, upload.job_run_id),
                "the file to finish",
                timeout=3 * realprocess.DEADLINE_SECONDS,
            )
        finally:
            realprocess.stop(second)
    finally:
        realprocess.stop(first, signal.SIGKILL)
    output = log.read_text()
    assert run.state == JobState.SUCCEEDED.value, (run.error, output[-3000:])
    assert run.attempts == 2
    _assert_every_row_once(db, upload.id, rows)
    requeued = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "job.requeued")
    ).one()
    assert "is not running" in requeued.details["reason"]
    print(f"killed at row {killed_at} of {rows}; the restarted worker finished it")


def test_killing_only_the_work_horse_retries_and_finishes_the_file(
    app_config, db, make_member, observer, tmp_path
):
    """SIGKILL only the horse: the run says why, RQ retries, the file finishes."""
    rows = 400
    log = tmp_path / "worker.log"
    upload, worker, horse, _env = _import_under_way(
        db, make_member, observer, app_config, log, rows, until=50
    )
    try:
        os.kill(horse, signal.SIGKILL)
        run = realprocess.wait_for(
            lambda: _finished(observer, upload.job_run_id), "the file to finish"
        )
    finally:
        realprocess.stop(worker)
    output = log.read_text()
    assert run.state == JobState.SUCCEEDED.value, (run.error, output[-3000:])
    assert run.attempts == 2
    # The run said why while it waited for its retry; the audit log keeps it.
    stopped = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "job.worker_stopped")
    ).one()
    assert stopped.details == {
        "error": f"The worker running this job stopped (its work horse, pid {horse}, "
        "ended with signal 9); retry it from the admin jobs page.",
        "retrying": True,
    }
    _assert_every_row_once(db, upload.id, rows)
