"""The scheduled billing jobs: tracked runs, idempotent, audited."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from sqlalchemy import select

from portal import ledger
from portal.billing import expiry
from portal.models import AuditEntry, JobRun, JobState
from portal.models.accounts import Plan
from tests.billing_helpers import RULES, make_organisation
from workers.jobs import start_scheduled_job


def test_allowance_job_grants_the_month_once(app, db, make_member, run_jobs):
    """Two scheduled runs on the same day: one grant, both runs succeed and
    say what they did, each with an audit entry."""
    org = make_organisation(db, plan=Plan.PRO, seats=2)
    members = [make_member(organisation_id=org.id) for _ in range(2)]
    with time_machine.travel(datetime(2026, 5, 1, 0, 15, tzinfo=UTC)):
        start_scheduled_job("grant_allowances")
        start_scheduled_job("grant_allowances")
        assert run_jobs() == 2
    runs = db.session.scalars(select(JobRun).order_by(JobRun.id)).all()
    assert [r.state for r in runs] == [JobState.SUCCEEDED] * 2
    assert [r.result["members_granted"] for r in runs] == [2, 0]
    assert runs[0].result == {
        "month": "2026-05",
        "organisations": 1,
        "members_granted": 2,
        "points": 400,
    }
    assert [ledger.vested_balance(db.session, m.id) for m in members] == [200, 200]
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert actions == ["billing.allowances_granted"] * 2


def test_expiry_job_settles_due_purchases(app, db, make_member, run_jobs):
    """A purchase a year and a day old expires through the scheduled job."""
    member = make_member()
    with (
        time_machine.travel(datetime(2025, 5, 1, tzinfo=UTC), tick=False),
        ledger.write_transaction() as session,
    ):
        expiry.credit_purchase(
            session, member.id, 80, "buy", now=datetime.now(UTC), rules=RULES
        )
    with time_machine.travel(datetime(2026, 5, 2, tzinfo=UTC)):
        start_scheduled_job("expire_purchased_points")
        start_scheduled_job("expire_purchased_points")
        run_jobs()
    runs = db.session.scalars(select(JobRun).order_by(JobRun.id)).all()
    assert [r.result["points_expired"] for r in runs] == [80, 0]
    assert ledger.vested_balance(db.session, member.id) == 0
