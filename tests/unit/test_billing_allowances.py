"""The monthly allowance: once per member per month, whatever happens."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from portal import ledger
from portal.billing import allowances
from portal.billing.plans import change_plan
from portal.models import EntryKind, LedgerEntry, Organisation
from portal.models.accounts import MemberStatus, Plan
from tests.billing_helpers import RULES, make_organisation

MARCH = datetime(2026, 3, 1, 0, 15, tzinfo=UTC)


def _grant(now, **kwargs):
    return allowances.grant_monthly_allowances(now, RULES, **kwargs)


def _set_plan(session, organisation_id, plan, custom_allowance=None):
    change_plan(
        session,
        session.get(Organisation, organisation_id),
        plan=plan,
        seats=2,
        currency="EUR",
        rules=RULES,
        custom_allowance=custom_allowance,
    )


def _allowances(db, member_id=None) -> list[tuple[int, int, str]]:
    statement = select(
        LedgerEntry.member_id, LedgerEntry.delta, LedgerEntry.idempotency_key
    ).where(LedgerEntry.kind == EntryKind.ALLOWANCE)
    if member_id is not None:
        statement = statement.where(LedgerEntry.member_id == member_id)
    db.session.expire_all()
    return sorted(db.session.execute(statement).all())


def test_pro_seats_get_the_configured_allowance_once_a_month(app, db, make_member):
    """Pro with 2 seats and 3 members: the 2 earliest get 200 each; a second
    and a late run in the same month grant nothing; April grants again."""
    org = make_organisation(db, plan=Plan.PRO, seats=2)
    first, second, third = (make_member(organisation_id=org.id) for _ in range(3))
    result = _grant(MARCH)
    assert (result.month, result.granted, result.points) == ("2026-03", 2, 400)
    assert _grant(MARCH).granted == 0
    assert _grant(datetime(2026, 3, 31, 23, 59, tzinfo=UTC)).granted == 0
    assert _allowances(db) == [
        (first.id, 200, f"allowance:{first.id}:2026-03"),
        (second.id, 200, f"allowance:{second.id}:2026-03"),
    ]
    assert _grant(datetime(2026, 4, 1, 0, 15, tzinfo=UTC)).granted == 2
    assert ledger.vested_balance(db.session, first.id) == 400
    assert ledger.vested_balance(db.session, third.id) == 0


def test_a_missed_run_is_made_up_later_in_the_month(app, db, make_member):
    """The job did not run on the 1st: the run on the 17th grants March once."""
    org = make_organisation(db, plan=Plan.PRO, seats=1)
    member = make_member(organisation_id=org.id)
    _grant(datetime(2026, 3, 17, 0, 15, tzinfo=UTC))
    _grant(datetime(2026, 3, 17, 0, 15, tzinfo=UTC))
    assert _allowances(db) == [(member.id, 200, f"allowance:{member.id}:2026-03")]


def test_enterprise_custom_allowance_and_free_nothing(app, db, make_member):
    """Enterprise seats get the organisation's own figure; Free gets none;
    suspended members and members without an organisation get none."""
    enterprise = make_organisation(
        db, "Contoso", plan=Plan.ENTERPRISE, seats=5, custom_allowance=750
    )
    free = make_organisation(db, "Fabrikam", plan=Plan.FREE, seats=5)
    big = make_member(organisation_id=enterprise.id)
    make_member(organisation_id=enterprise.id, status=MemberStatus.SUSPENDED)
    make_member(organisation_id=free.id)
    make_member()
    _grant(MARCH)
    assert _allowances(db) == [(big.id, 750, f"allowance:{big.id}:2026-03")]


def test_a_member_moving_organisation_is_granted_once_a_month(app, db, make_member):
    """Granted by one Pro organisation, then moved to another: no second
    grant that month."""
    one = make_organisation(db, "One", plan=Plan.PRO, seats=3)
    two = make_organisation(
        db, "Two", plan=Plan.ENTERPRISE, seats=3, custom_allowance=500
    )
    member = make_member(organisation_id=one.id)
    _grant(MARCH)
    member.organisation_id = two.id
    db.session.commit()
    _grant(MARCH)
    assert _allowances(db, member.id) == [
        (member.id, 200, f"allowance:{member.id}:2026-03")
    ]


def test_plan_changes_during_a_run_are_consistent(app, db, make_member):
    """While a run is between organisations an admin downgrades the one just
    granted and upgrades one not yet reached: the first keeps its grant, the
    second is granted on its new plan; the next run grants nothing more."""
    done = make_organisation(db, "Done", plan=Plan.PRO, seats=2)
    upgraded = make_organisation(db, "Upgraded", plan=Plan.PRO, seats=2)
    a = make_member(organisation_id=done.id)
    b = make_member(organisation_id=upgraded.id)

    def admin_changes_plans(organisation_id):
        if organisation_id != done.id:
            return
        with ledger.write_transaction() as session:
            _set_plan(session, done.id, Plan.FREE)
            _set_plan(session, upgraded.id, Plan.ENTERPRISE, 900)

    _grant(MARCH, after_organisation=admin_changes_plans)
    _grant(MARCH)
    assert _allowances(db) == [
        (a.id, 200, f"allowance:{a.id}:2026-03"),
        (b.id, 900, f"allowance:{b.id}:2026-03"),
    ]


def test_a_run_waits_for_a_plan_change_in_flight(app, db, make_member):
    """An admin's plan change holds the organisation while the run reaches
    it: the run waits and grants on the new plan, never a mix of the two."""
    org = make_organisation(db, plan=Plan.PRO, seats=1)
    member = make_member(organisation_id=org.id)
    holding = threading.Event()

    def slow_upgrade():
        with app.app_context(), ledger.write_transaction() as session:
            _set_plan(session, org.id, Plan.ENTERPRISE, 1234)
            holding.set()
            time.sleep(1.0)  # the run starts meanwhile and must wait

    admin = threading.Thread(target=slow_upgrade)
    admin.start()
    assert holding.wait(10)
    _grant(MARCH)
    admin.join()
    assert _allowances(db) == [(member.id, 1234, f"allowance:{member.id}:2026-03")]


def test_the_allowance_kind_counts_once_in_the_ledger(app, db, make_member):
    """Ten runs in one month write one allowance entry per seat holder."""
    org = make_organisation(db, plan=Plan.PRO, seats=3)
    for _ in range(3):
        make_member(organisation_id=org.id)
    for _ in range(10):
        _grant(MARCH)
    count = db.session.scalar(
        select(func.count()).where(LedgerEntry.kind == EntryKind.ALLOWANCE)
    )
    assert count == 3
