"""A list merge whose work horse is SIGKILLed half way through the file: the
retry writes a byte-identical file, bills once and discloses each contact once."""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import func, select

from portal.lists import delivery
from portal.models import Disclosure, Invoice, JobState, ListState, MatchList
from portal.models.base import utcnow
from tests.factories import bulk_insert_contacts
from tests.lists_helpers import make_org_member, upload_list
from tests.workers import realprocess

PEOPLE = 3000
ROWS = 30_000


@pytest.fixture
def observer(app_config):
    observer = realprocess.Observer(app_config["SQLALCHEMY_DATABASE_URI"])
    yield observer
    observer.close()


def _list_text(domain: str) -> str:
    lines = ["Record ID,First Name,Last Name,Company,Email,Job Title"]
    for n in range(ROWS):
        person = n % PEOPLE
        lines.append(
            f"R{n},Pat,Lee{person},Acme Robotics,p{person}@{domain},Old Title {n}"
        )
    return "\n".join(lines) + "\n"


def _state(observer, list_id: int) -> str:
    with observer.engine.connect() as connection:
        return connection.scalar(select(MatchList.state).where(MatchList.id == list_id))


def test_a_merge_killed_mid_file_delivers_once_and_identically(
    app, app_config, db, factories, observer, run_jobs, tmp_path
):
    """SIGKILL the merge's work horse while it writes the file: RQ retries, and
    the delivery has the same bytes as a clean write, one invoice, and one
    disclosure per delivered contact."""
    company = factories.make_company("Acme Robotics", domain="acme.example")
    now = int(utcnow().timestamp())
    bulk_insert_contacts(
        db,
        [
            {
                "first_name": "Pat",
                "last_name": f"Lee{n}",
                "title": "Head of Sales",
                "company_id": company.id,
                "email": f"p{n}@acme.example",
                "state": "active",
                "last_confirmed_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(PEOPLE)
        ],
    )
    admin = make_org_member(factories)
    match_list = upload_list(app, admin, _list_text("acme.example"))
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.state == ListState.QUOTED
    assert match_list.delivered_records == ROWS
    delivery.accept_quote(db.session, match_list, member=admin, now=utcnow())
    db.session.commit()
    partial = delivery.output_path(app.config["INSTANCE_PATH"], match_list)
    partial = partial.with_name(partial.name + ".partial")
    log = tmp_path / "worker.log"
    env = realprocess.process_env(app_config)
    worker = realprocess.start_worker(env, log)
    try:
        realprocess.wait_for(partial.exists, "the merge to start writing", timeout=120)
        horses = realprocess.work_horse_pids(worker.pid)
        assert len(horses) == 1, horses
        os.kill(horses[0], signal.SIGKILL)
        realprocess.wait_for(
            lambda: _state(observer, match_list.id) == ListState.DELIVERED.value,
            "the list to be delivered",
        )
        run = realprocess.wait_for(
            lambda: (
                (r := observer.run(match_list.merge_run_id))
                and JobState(r.state).finished
                and r
            ),
            "the merge run to finish",
        )
    finally:
        realprocess.stop(worker)
    assert run.state == JobState.SUCCEEDED.value, (run.error, log.read_text()[-3000:])
    assert run.attempts == 2
    db.session.expire_all()
    match_list = db.session.get(MatchList, match_list.id)
    delivered = partial.with_name(partial.name.removesuffix(".partial")).read_bytes()
    assert not partial.exists()
    # A clean write of the same list gives the same bytes.
    delivery.write_outputs(db.session, match_list, app.config["INSTANCE_PATH"])
    again = delivery.output_path(app.config["INSTANCE_PATH"], match_list).read_bytes()
    assert delivered == again
    assert len(delivered.splitlines()) == ROWS + 1
    assert db.session.scalar(select(func.count(Invoice.id))) == 1
    invoice = db.session.scalar(select(Invoice))
    assert invoice.total == match_list.quote_total
    disclosed = db.session.execute(
        select(Disclosure.contact_id, func.count(Disclosure.id)).group_by(
            Disclosure.contact_id
        )
    ).all()
    assert len(disclosed) == PEOPLE
    assert {count for _, count in disclosed} == {1}
