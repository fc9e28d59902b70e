"""Writers wait for each other instead of failing with "database is locked"."""

from __future__ import annotations

import sqlite3
import threading
import time

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.contacts import imports
from portal.models import (
    AuditEntry,
    Company,
    ContributionFile,
    ContributionRow,
    FileState,
    JobRun,
    JobState,
)
from tests.conftest import AuthActions
from tests.workers import realprocess

WRITES_PER_SECOND_EACH = 20
WRITING_SECONDS = 4


def _company(name: str, domain: str) -> Company:
    return Company(name=name, normalised_name=name.lower(), domain=domain)


def test_a_transaction_that_read_first_still_gets_to_write(db):
    """A savepoint that reads, then writes after another writer committed, waits."""
    errors = []
    engine = db.engine

    def other_writer():
        try:
            with Session(engine) as session, session.begin():
                session.add(_company("Other Writer", "other-writer.com"))
        except Exception as exc:  # noqa: BLE001 - the assertion reports it
            errors.append(exc)

    thread = threading.Thread(target=other_writer)
    with db.session.begin_nested():
        db.session.scalars(select(Company)).all()
        thread.start()
        thread.join(timeout=2)  # on SQLite it waits for our lock instead
        db.session.add(_company("First Reader", "first-reader.com"))
        db.session.flush()
    db.session.commit()
    thread.join(timeout=60)
    assert errors == []
    assert db.session.scalar(select(func.count(Company.id))) == 2


def test_an_import_runs_beside_member_writes_without_failing(
    app, app_config, db, make_member, tmp_path
):
    """A real worker imports a file while members save at ~60 requests/s."""
    uploader = make_member(email="uploader@northwind.example")
    writers = [make_member(email=f"writer{n}@northwind.example") for n in range(3)]
    upload = realprocess.upload_member_file(db, uploader, 600)
    observer = realprocess.Observer(app_config["SQLALCHEMY_DATABASE_URI"])
    clients = []
    for member in writers:
        client = app.test_client()
        AuthActions(client).login(member.email)
        clients.append(client)
    worker = realprocess.start_worker(
        realprocess.process_env(app_config), tmp_path / "worker.log"
    )
    answers: list[int] = []
    try:
        realprocess.wait_for(
            lambda: observer.run(upload.job_run_id).state == JobState.RUNNING.value,
            "the import to start",
        )
        started = time.monotonic()
        threads = [
            threading.Thread(target=_save_profiles, args=(client, n, answers))
            for n, client in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=realprocess.DEADLINE_SECONDS)
        rate = len(answers) / (time.monotonic() - started)
        import_was_running = observer.file(upload.id).state == FileState.IN_PROGRESS
        realprocess.wait_for(
            lambda: (
                observer.run(upload.job_run_id).state
                in {state.value for state in JobState if state.finished}
            ),
            "the import to finish",
        )
        run = observer.run(upload.job_run_id)
    finally:
        realprocess.stop(worker)
        observer.close()
    log = (tmp_path / "worker.log").read_text()
    assert run.state == JobState.SUCCEEDED.value, (run.error, log[-3000:])
    assert run.attempts == 1, log[-3000:]
    assert import_was_running, "the writes did not overlap the import"
    assert answers and set(answers) == {302}
    # Paced at 60/s; a loaded 2-core machine manages fewer. Before writers took
    # turns fairly with the job, they got about one request through in 4 s.
    assert rate >= 10, f"only {rate:.0f} writes/s"
    db.session.expire_all()
    upload = db.session.get(ContributionFile, upload.id)
    numbers = list(
        db.session.scalars(
            select(ContributionRow.row_number).where(
                ContributionRow.file_id == upload.id
            )
        )
    )
    assert len(numbers) == len(set(numbers)) == 600
    saved = select(func.count(AuditEntry.id)).where(
        AuditEntry.action == "member.profile_updated"
    )
    assert db.session.scalar(saved) == len(answers)
    print(f"member writes beside the import: {len(answers)} at {rate:.0f}/s")


def _save_profiles(client, n: int, answers: list[int]) -> None:
    """One member saving their profile at a steady pace for a few seconds."""
    token = AuthActions(client).csrf_token("/account/profile")
    pause = 1 / WRITES_PER_SECOND_EACH
    deadline = time.monotonic() + WRITING_SECONDS
    count = 0
    while time.monotonic() < deadline:
        began = time.monotonic()
        response = client.post(
            "/account/profile",
            data={"profile-display_name": f"Writer {n} {count}", "csrf_token": token},
        )
        answers.append(response.status_code)
        count += 1
        time.sleep(max(0.0, pause - (time.monotonic() - began)))


def test_a_locked_database_is_retried_and_the_import_resumes(
    db, make_member, run_jobs, monkeypatch
):
    """ "database is locked" mid-file is transient: the retry finishes the rest."""
    monkeypatch.setattr(imports, "COMMIT_EVERY", 2)
    monkeypatch.setattr(imports, "COMMIT_SECONDS", 3600)
    contribute = imports.services.contribute
    calls = []

    def locked_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise sa_exc.OperationalError(
                "INSERT INTO companies",
                {},
                sqlite3.OperationalError("database is locked"),
            )
        return contribute(*args, **kwargs)

    monkeypatch.setattr(imports.services, "contribute", locked_once)
    uploader = make_member(email="uploader@northwind.example")
    upload = realprocess.upload_member_file(db, uploader, 5)
    run_jobs()
    upload = db.session.get(ContributionFile, upload.id)
    run = db.session.get(JobRun, upload.job_run_id)
    assert (run.state, run.attempts) == (JobState.SUCCEEDED, 2)
    assert upload.state == FileState.COMPLETED
    numbers = list(db.session.scalars(select(ContributionRow.row_number)))
    assert sorted(numbers) == [2, 3, 4, 5, 6]
    assert len(calls) == 6  # row 3 was tried twice, every other row once
