"""The reconciler: runs the database calls active that RQ no longer works on."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from rq import Worker
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select, update

from portal import queue as job_queue
from portal.models import AuditEntry, JobRun, JobState
from portal.models.base import utcnow
from tests.conftest import csrf_token_from
from workers import reconcile
from workers.jobs import start_scheduled_job
from workers.runtime import AppWorker, InProcessWorker, bind_app, record_horse_killed

TEST_KINDS = {"test_succeed": ("tests.workers.jobs_for_tests.succeed", "default")}
GRACE = 60


@pytest.fixture(autouse=True)
def test_job_kinds(monkeypatch):
    monkeypatch.setattr(job_queue, "JOB_KINDS", {**job_queue.JOB_KINDS, **TEST_KINDS})


def _reconcile(app, redis, now=None, max_attempts=3):
    return reconcile.reconcile_runs(
        app,
        redis,
        now=now or utcnow(),
        grace_seconds=GRACE,
        max_attempts=max_attempts,
    )


def _started_by(db, redis, queue, worker_name: str, heartbeat_in: float = 100):
    """A run whose job a worker took off the queue and started (then maybe died)."""
    run = job_queue.start_job("test_succeed")
    db.session.commit()
    job = Job.fetch(run.rq_job_id, connection=redis)
    queue.remove(job)
    redis.hset(
        job.key, mapping={"status": JobStatus.STARTED, "worker_name": worker_name}
    )
    registry = StartedJobRegistry("default", connection=redis)
    deadline = utcnow().timestamp() + heartbeat_in
    redis.zadd(registry.key, {f"{job.id}:attempt-1": deadline})
    run.state = JobState.RUNNING
    run.attempts = 1
    run.heartbeat_at = utcnow()
    db.session.commit()
    return run


def _worker(redis, name: str, **fields) -> Worker:
    worker = Worker(["default"], connection=redis, name=name)
    worker.register_birth()
    if fields:
        redis.hset(worker.key, mapping=fields)
    return worker


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _actions(db) -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action)))


def test_a_run_whose_worker_is_gone_is_requeued_and_finishes(
    app, db, redis, queue, run_jobs
):
    """Started by a worker no longer registered: queued again, then it runs."""
    run = _started_by(db, redis, queue, "vanished-worker")
    done = _reconcile(app, redis)
    assert list(done.requeued) == [run.id]
    assert "vanished-worker is no longer registered" in done.requeued[run.id]
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.QUEUED
    assert run.message.startswith("Queued again: the worker running it stopped")
    assert "job.requeued" in _actions(db)
    assert StartedJobRegistry("default", connection=redis).get_job_ids() == []
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert (run.state, run.attempts) == (JobState.SUCCEEDED, 2)


def test_a_run_held_by_a_live_worker_is_left_alone(app, db, redis, queue):
    """A worker that is alive and heartbeating keeps its run."""
    _worker(redis, "live-worker")
    run = _started_by(db, redis, queue, "live-worker")
    done = _reconcile(app, redis)
    assert (done.requeued, done.failed) == ({}, {})
    assert db.session.get(JobRun, run.id).state == JobState.RUNNING
    job = Job.fetch(run.rq_job_id, connection=redis)
    assert job.get_status() == JobStatus.STARTED


def test_a_worker_whose_process_died_on_this_host_is_gone(app, db, redis, queue):
    """Registered still (its key outlives it), but its pid here is not running."""
    pid = _dead_pid()
    _worker(redis, "killed-worker", pid=pid)
    run = _started_by(db, redis, queue, "killed-worker")
    done = _reconcile(app, redis)
    assert done.requeued == {run.id: f"worker killed-worker (pid {pid}) is not running"}


def test_a_worker_elsewhere_that_stopped_heartbeating_is_gone(app, db, redis, queue):
    """On another host, an execution whose heartbeat expired counts as dead."""
    _worker(redis, "far-worker", hostname="elsewhere.example")
    run = _started_by(db, redis, queue, "far-worker", heartbeat_in=-5)
    done = _reconcile(app, redis)
    assert done.requeued == {run.id: "worker far-worker stopped sending heartbeats"}


def test_a_job_missing_from_redis_waits_out_the_grace(app, db, redis, run_jobs):
    """Missing from Redis: left alone while fresh, requeued after the grace."""
    run = job_queue.start_job("test_succeed")
    db.session.commit()
    redis.flushdb()
    assert _reconcile(app, redis).requeued == {}
    later = utcnow() + timedelta(seconds=GRACE + 1)
    done = _reconcile(app, redis, now=later)
    assert done.requeued == {run.id: "its job is missing from the queue"}
    run_jobs()
    assert db.session.get(JobRun, run.id).state == JobState.SUCCEEDED


def test_a_run_out_of_attempts_is_failed_and_an_admin_can_retry_it(
    app, db, redis, queue, client, auth, make_member, run_jobs
):
    """No attempts left: failed with a readable error, and Retry accepts it."""
    run = _started_by(db, redis, queue, "vanished-worker")
    done = _reconcile(app, redis, max_attempts=1)
    assert list(done.failed) == [run.id]
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.FAILED
    assert run.error == (
        "The worker running this job stopped (worker vanished-worker is no longer "
        "registered); retry it from the admin jobs page."
    )
    assert "job.stranded" in _actions(db)
    make_member(email="root@northwind.example", role="admin")
    auth.login("root@northwind.example")
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "The worker running this job stopped" in page
    client.post(
        f"/admin/jobs/{run.id}/retry", data={"csrf_token": csrf_token_from(page)}
    )
    run_jobs()
    assert db.session.get(JobRun, run.id).state == JobState.SUCCEEDED


def test_reconciling_twice_requeues_once(app, db, redis, queue):
    """A second pass finds the run waiting in its queue and does nothing."""
    run = _started_by(db, redis, queue, "vanished-worker")
    assert list(_reconcile(app, redis).requeued) == [run.id]
    assert _reconcile(app, redis).requeued == {}
    assert queue.get_job_ids().count(run.rq_job_id) == 1


def test_a_run_picked_up_meanwhile_is_not_claimed(app, db, redis, queue):
    """If a worker starts the run between the look and the change, nothing happens."""
    run = _started_by(db, redis, queue, "vanished-worker")
    seen = db.session.get(JobRun, run.id)
    with db.engine.begin() as connection:
        connection.execute(
            update(JobRun).where(JobRun.id == run.id).values(heartbeat_at=utcnow())
        )
    assert not reconcile._claim(seen, utcnow(), JobState.QUEUED, "test")
    db.session.expire_all()
    assert db.session.get(JobRun, run.id).state == JobState.RUNNING


def test_a_killed_work_horse_is_recorded_on_the_run(app, db, redis, queue):
    """RQ calls no failure callback for a dead horse: the handler records it."""
    run = _started_by(db, redis, queue, "live-worker")
    job = Job.fetch(run.rq_job_id, connection=redis)
    job.retries_left = 0
    record_horse_killed(job, 4242, signal.SIGKILL, None)
    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.FAILED
    assert run.error == (
        "The worker running this job stopped (its work horse, pid 4242, ended "
        "with signal 9); retry it from the admin jobs page."
    )
    job.retries_left = 1
    run.state = JobState.RUNNING
    db.session.commit()
    record_horse_killed(job, 4242, signal.SIGKILL, None)
    db.session.expire_all()
    assert db.session.get(JobRun, run.id).state == JobState.RETRYING
    assert _actions(db).count("job.worker_stopped") == 2


def test_rq_abandoned_job_clean_up_retries_with_a_readable_error(app, db, redis, queue):
    """RQ's own clean-up of an expired execution marks the run retrying, readably."""
    run = _started_by(db, redis, queue, "far-worker", heartbeat_in=-5)
    job = Job.fetch(run.rq_job_id, connection=redis)
    job.retries_left = 2
    job.save()
    StartedJobRegistry("default", connection=redis).cleanup()
    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.RETRYING
    assert run.error.startswith(
        "The worker running this job stopped (it stopped sending heartbeats)"
    )


def test_the_scheduled_reconciler_job_requeues_stranded_runs(app, db, redis, queue):
    """The job the scheduler queues runs a pass and reports what it did."""
    stranded = _started_by(db, redis, queue, "vanished-worker")
    start_scheduled_job("reconcile_runs")
    worker = InProcessWorker(["high"], connection=redis)
    worker.work(burst=True, with_scheduler=False)
    db.session.expire_all()
    run = db.session.scalars(
        select(JobRun).where(JobRun.kind == "reconcile_runs")
    ).one()
    assert (run.state, run.result) == (JobState.SUCCEEDED, {"requeued": 1, "failed": 0})
    assert db.session.get(JobRun, stranded.id).state == JobState.QUEUED


def test_a_starting_worker_reconciles_first(app, db, redis, queue):
    """AppWorker runs a pass before it takes jobs."""
    stranded = _started_by(db, redis, queue, "vanished-worker")
    bind_app(app)
    worker = AppWorker(["low"], connection=redis)
    worker.work(burst=True, with_scheduler=False)
    db.session.expire_all()
    assert db.session.get(JobRun, stranded.id).state == JobState.QUEUED
