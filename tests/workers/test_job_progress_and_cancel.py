"""Progress ticks write on their own connection; an admin cancel stops a job."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from portal import queue as job_queue
from portal.contacts import imports
from portal.models import (
    AuditEntry,
    Contact,
    ContributionFile,
    ContributionRow,
    FileState,
    JobRun,
    JobState,
)
from tests.conftest import csrf_token_from
from tests.workers import jobs_for_tests

NOW = datetime(2026, 11, 30, 10, 5, tzinfo=UTC)
TEST_KINDS = {
    "test_two_steps": ("tests.workers.jobs_for_tests.write_in_two_steps", "default"),
    "test_no_ticks": ("tests.workers.jobs_for_tests.finish_without_ticking", "default"),
    "test_fail_after_progress": (
        "tests.workers.jobs_for_tests.fail_after_progress",
        "default",
    ),
}


@pytest.fixture(autouse=True)
def test_job_kinds(monkeypatch):
    monkeypatch.setattr(job_queue, "JOB_KINDS", {**job_queue.JOB_KINDS, **TEST_KINDS})
    monkeypatch.setattr(jobs_for_tests, "while_running", [])


@pytest.fixture
def admin(make_member, auth):
    member = make_member(email="root@northwind.example", role="admin")
    auth.login("root@northwind.example")
    return member


def _audit_actions(db) -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def _post_cancel(client, run_id: int):
    token = csrf_token_from(client.get("/admin/jobs").get_data(as_text=True))
    return client.post(f"/admin/jobs/{run_id}/cancel", data={"csrf_token": token})


def test_progress_tick_does_not_commit_half_done_work(db, run_jobs):
    """A job that reports progress and then fails leaves none of its work behind."""
    run = job_queue.start_job("test_fail_after_progress")
    db.session.commit()
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.FAILED
    assert "test.half_done" not in _audit_actions(db)


def test_progress_is_visible_while_the_job_runs(db, run_jobs, app):
    """A tick after a commit is readable from another connection at once."""
    seen = []

    def look():
        with db.engine.connect() as connection:
            seen.append(
                connection.execute(
                    select(JobRun.progress, JobRun.message, JobRun.heartbeat_at)
                ).one()
            )

    jobs_for_tests.while_running.append(look)
    run = job_queue.start_job("test_two_steps")
    db.session.commit()
    run_jobs()
    progress, message, heartbeat_at = seen[0]
    assert (progress, message) == (50, "Step one done")
    assert heartbeat_at is not None
    assert db.session.get(JobRun, run.id).state == JobState.SUCCEEDED


def test_admin_cancels_a_running_job_at_its_next_tick(
    db, client, auth, make_member, run_jobs, time_machine
):
    """Cancel stops the job at its next tick; committed work stays, the rest goes."""
    time_machine.move_to(NOW, tick=False)
    make_member(email="root@northwind.example", role="admin")
    auth.login("root@northwind.example")
    run = job_queue.start_job("test_two_steps")
    db.session.commit()
    answers = []
    jobs_for_tests.while_running.append(
        lambda: answers.append(_post_cancel(client, run.id).status_code)
    )
    run_jobs()
    assert answers == [302]
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.CANCELED
    assert run.message == "Canceled by root@northwind.example at 2026-11-30 10:05 UTC"
    assert run.finished_at == NOW
    actions = _audit_actions(db)
    assert "test.step_one" in actions and "test.step_two" not in actions
    assert "job.canceled" in actions
    page = client.get(f"/jobs/{run.id}").get_data(as_text=True)
    assert "Canceled by root@northwind.example" in page


def test_cancel_of_a_queued_job_means_it_never_runs(db, client, admin, run_jobs):
    """A queued run canceled by an admin is skipped by the worker."""
    run = job_queue.start_job("test_two_steps")
    db.session.commit()
    assert _post_cancel(client, run.id).status_code == 302
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.CANCELED and run.attempts == 0
    assert "test.step_one" not in _audit_actions(db)


def test_a_finished_job_cannot_be_canceled(db, client, admin, run_jobs):
    """Canceling a finished run changes nothing and says why."""
    run = job_queue.start_job("test_two_steps")
    db.session.commit()
    run_jobs()
    response = _post_cancel(client, run.id)
    assert response.status_code == 302
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert f"Job {run.id} has already succeeded." in page
    assert db.session.get(JobRun, run.id).state == JobState.SUCCEEDED


def test_canceled_import_keeps_its_rows_and_a_retry_finishes_it(
    db, client, admin, run_jobs, monkeypatch
):
    """An import canceled mid-file keeps committed rows; retry adds nobody twice."""
    monkeypatch.setattr(imports, "COMMIT_EVERY", 2)
    monkeypatch.setattr(imports, "COMMIT_SECONDS", 3600)
    rows = [
        f"{name},Marlowe,VP Sales,Brightwater Analytics,brightwater-analytics.com,"
        f"{name.lower()}.marlowe@brightwater-analytics.com,,London,GB"
        for name in ("Ada", "Bea", "Cleo", "Dora", "Edith")
    ]
    content = "\n".join(
        [
            "First Name,Last Name,Job Title,Company,Website,Work Email,Phone,City,"
            "Country",
            *rows,
        ]
    ).encode()
    token = csrf_token_from(client.get("/contacts/import").get_data(as_text=True))
    client.post(
        "/contacts/import",
        data={
            "csrf_token": token,
            "attest": "y",
            "file": (io.BytesIO(content), "a.csv"),
        },
        content_type="multipart/form-data",
    )
    upload = db.session.scalars(select(ContributionFile)).one()
    run = db.session.get(JobRun, upload.job_run_id)
    # The admin's request lands while the job runs: its first tick stops it.
    run.state = JobState.RUNNING
    run.cancel_requested_at = NOW
    run.cancel_requested_by_id = admin.id
    db.session.commit()
    run_jobs()
    run = db.session.get(JobRun, run.id)
    upload = db.session.get(ContributionFile, upload.id)
    assert run.state == JobState.CANCELED
    assert upload.state == FileState.ERROR
    assert upload.message.startswith("Canceled by root@northwind.example")
    assert db.session.scalar(select(func.count(ContributionRow.id))) == 2
    token = csrf_token_from(client.get("/admin/jobs").get_data(as_text=True))
    client.post(f"/admin/jobs/{run.id}/retry", data={"csrf_token": token})
    run_jobs()
    upload = db.session.get(ContributionFile, upload.id)
    assert upload.state == FileState.COMPLETED
    numbers = list(db.session.scalars(select(ContributionRow.row_number)))
    assert sorted(numbers) == sorted(set(numbers)) and len(numbers) == 5
    accepted = select(func.count(ContributionRow.id)).where(
        ContributionRow.contact_id.is_not(None)
    )
    assert db.session.scalar(select(func.count(Contact.id))) == db.session.scalar(
        accepted
    )


def test_a_job_that_finishes_before_its_next_tick_says_so(db, client, admin, run_jobs):
    """Cancel requested after the last tick: the run succeeds and says so."""
    run = job_queue.start_job("test_no_ticks")
    db.session.commit()
    jobs_for_tests.while_running.append(lambda: _post_cancel(client, run.id))
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.SUCCEEDED
    assert run.message == "Finished before the cancel request reached it"
