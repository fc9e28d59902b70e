"""Background jobs: the JobRun row records success, failure and retries."""

from __future__ import annotations

import pytest
import redis as redis_lib
from rq.job import Job, JobStatus

from portal import queue as job_queue
from portal.models import JobRun, JobState
from tests.conftest import csrf_token_from

TEST_KINDS = {
    "test_succeed": ("tests.workers.jobs_for_tests.succeed", "default"),
    "test_fail": ("tests.workers.jobs_for_tests.fail_permanently", "default"),
    "test_flaky": ("tests.workers.jobs_for_tests.fail_once_then_succeed", "default"),
    "test_transient": ("tests.workers.jobs_for_tests.always_transient", "default"),
}


@pytest.fixture(autouse=True)
def test_job_kinds(monkeypatch):
    monkeypatch.setattr(job_queue, "JOB_KINDS", {**job_queue.JOB_KINDS, **TEST_KINDS})


def _start(db, kind: str) -> JobRun:
    run = job_queue.start_job(kind)
    db.session.commit()
    return run


def test_run_is_enqueued_only_after_commit(db, queue, redis):
    """A run in a rolled-back transaction never reaches Redis; a committed one does."""
    rolled_back = job_queue.start_job("test_succeed")
    rolled_back_id = rolled_back.rq_job_id
    db.session.rollback()
    assert not Job.exists(rolled_back_id, connection=redis)
    run = _start(db, "test_succeed")
    assert run.rq_job_id == f"tessera-run-{run.id}"
    assert Job.exists(run.rq_job_id, connection=redis)
    assert run.rq_job_id in queue.job_ids


def test_successful_job_is_recorded(db, run_jobs, redis):
    """Success: state, progress 100, result, one attempt, timestamps."""
    run = _start(db, "test_succeed")
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.SUCCEEDED
    assert run.progress == 100
    assert run.result == {"answer": 42}
    assert run.attempts == 1
    assert run.started_at is not None and run.finished_at >= run.started_at
    assert Job.fetch(run.rq_job_id, connection=redis).get_status() == JobStatus.FINISHED


def test_permanent_failure_is_recorded_and_not_retried(db, run_jobs, redis):
    """A bug fails once, with a readable error; RQ records the failure too."""
    run = _start(db, "test_fail")
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.FAILED
    assert run.attempts == 1
    assert run.error.startswith("ValueError: the input file has no header row")
    assert run.finished_at is not None
    assert Job.fetch(run.rq_job_id, connection=redis).get_status() == JobStatus.FAILED


def test_transient_failure_is_retried(db, run_jobs):
    """A transient error is retried, and the second attempt's success is kept."""
    run = _start(db, "test_flaky")
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.SUCCEEDED
    assert run.attempts == 2
    assert run.error is None
    assert run.result == {"attempts": 2}


def test_retries_run_out(app, db, run_jobs):
    """A job that keeps failing transiently stops after its retries."""
    run = _start(db, "test_transient")
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.FAILED
    assert run.attempts == 1 + len(app.config["JOB_RETRY_INTERVALS"])
    assert run.error.startswith("TransientJobError: the mail server is busy")


def test_unreachable_redis_marks_run_failed(app, db):
    """If Redis is down at enqueue time the run says so instead of hanging."""
    app.extensions["redis"] = redis_lib.Redis(host="127.0.0.1", port=1)
    run = _start(db, "test_succeed")
    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.FAILED
    assert run.error.startswith("Could not reach the job queue")


def test_admin_can_retry_a_failed_job(db, client, auth, make_member, run_jobs):
    """Retrying a failed run from the admin page queues it again and it runs."""
    make_member(email="root@northwind.example", role="admin")
    run = _start(db, "test_flaky")
    run.state = JobState.FAILED
    run.error = "earlier failure"
    db.session.commit()
    auth.login("root@northwind.example")
    token = csrf_token_from(client.get("/admin/jobs").get_data(as_text=True))
    response = client.post(f"/admin/jobs/{run.id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.SUCCEEDED


def test_status_partial_polls_until_finished(db, client, auth, make_member, run_jobs):
    """The job partial polls while running and stops polling once done."""
    make_member(email="root@northwind.example", role="admin")
    run = _start(db, "test_succeed")
    auth.login("root@northwind.example")
    running = client.get(f"/jobs/{run.id}", headers={"HX-Request": "true"})
    html = running.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html and "<html" not in html
    assert '<progress value="0" max="100"' in html
    run_jobs()
    done = client.get(f"/jobs/{run.id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "hx-trigger" not in done
    assert '<progress value="100" max="100"' in done
    assert 'data-job-state="succeeded"' in done


def test_job_status_is_private(db, client, auth, make_member):
    """Another member cannot see someone else's job."""
    owner = make_member(email="owner@northwind.example")
    make_member(email="other@northwind.example")
    run = job_queue.start_job("test_succeed", created_by=owner)
    db.session.commit()
    auth.login("other@northwind.example")
    assert client.get(f"/jobs/{run.id}").status_code == 404
