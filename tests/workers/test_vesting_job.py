"""The scheduled vesting job: queued by the cron scheduler, tracked, idempotent."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from portal import ledger
from portal.models import EntryKind, EntryState, JobRun, JobState, LedgerEntry
from portal.models.base import utcnow
from workers.jobs import start_scheduled_job


def test_scheduled_vesting_run_vests_due_points_once(
    app, db, make_member, make_contact, run_jobs
):
    """The cron entry point records a tracked run; the job vests old pending
    points and leaves recent ones; a second run changes nothing."""
    member = make_member()
    old, recent = make_contact(), make_contact()
    from portal.models import Revision, RevisionKind, RevisionSource

    entries = []
    for contact, age in ((old, 15), (recent, 3)):
        revision = Revision(
            contact_id=contact.id,
            member_id=member.id,
            kind=RevisionKind.CONTRIBUTION,
            source=RevisionSource.FORM,
            fields={"email": contact.email},
        )
        db.session.add(revision)
        db.session.flush()
        with time_machine.travel(utcnow() - timedelta(days=age), tick=False):
            entries.append(
                ledger.record(
                    db.session,
                    member.id,
                    5,
                    EntryKind.CONTRIBUTION,
                    f"contribution:{revision.id}",
                    state=EntryState.PENDING,
                    reference=revision,
                )
            )
    db.session.commit()

    start_scheduled_job("vest_points")
    assert run_jobs() == 1
    run = db.session.scalars(select(JobRun)).one()
    assert (run.kind, run.state) == ("vest_points", JobState.SUCCEEDED)
    assert run.result == {"vested_entries": 1}
    states = dict(db.session.execute(select(LedgerEntry.id, LedgerEntry.state)).all())
    assert states[entries[0].id] == EntryState.VESTED
    assert states[entries[1].id] == EntryState.PENDING
    assert ledger.balance(db.session, member.id) == ledger.Balance(vested=5, pending=5)

    start_scheduled_job("vest_points")
    run_jobs()
    assert ledger.balance(db.session, member.id) == ledger.Balance(vested=5, pending=5)
