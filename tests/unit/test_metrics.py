"""The admin dashboard's figures (portal/admin/metrics.py) and its daily roll-up."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from sqlalchemy import delete, func, select

from portal import ledger
from portal.admin import metrics
from portal.admin.metrics import DateRange
from portal.models import DailyMetric, JobRun, JobState
from tests.dashboard_data import EXPECTED, FIRST, LAST, NOW, days_between, plant

AGE_EDGES = [1, 3, 7, 14]


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def planted(db, make_member, make_contact, frozen):
    return plant(db, make_member, make_contact)


def build(db, first=FIRST, last=LAST, now=NOW, daily_max_days=92):
    return metrics.build_dashboard(
        db.session,
        DateRange(first, last),
        now,
        backlog_age_edges=AGE_EDGES,
        daily_max_days=daily_max_days,
        active_days=30,
    )


def per_day(rows, attribute):
    return {row.day: getattr(row, attribute) for row in rows if getattr(row, attribute)}


def rolled_rows(db):
    return set(
        db.session.execute(
            select(DailyMetric.day, DailyMetric.metric, DailyMetric.value)
        ).all()
    )


def test_members_per_week_and_totals(db, planted):
    """New and active members per week, and the member totals, match the plant."""
    members = build(db).members
    assert [(w.monday, w.new, w.active) for w in members.weeks] == EXPECTED["weeks"]
    assert members.total == EXPECTED["members_total"]
    assert members.suspended == EXPECTED["suspended"]
    assert members.new_in_range == 3
    assert members.active_recently == EXPECTED["active_recently"]


def test_contacts_by_state(db, planted):
    """Every contact state is listed with its count, zero included."""
    dashboard = build(db)
    assert dict(dashboard.contacts_by_state) == EXPECTED["contacts_by_state"]
    assert dashboard.contacts == 6


def test_contributions_and_reveals_per_day(db, planted):
    """New contacts (not updates) and reveals are counted on their UTC day,
    today's partial day included; days outside the range are not."""
    dashboard = build(db)
    assert [row.day for row in dashboard.activity] == days_between(FIRST, LAST)
    assert per_day(dashboard.activity, "contributions") == EXPECTED["contributions"]
    assert per_day(dashboard.activity, "reveals") == EXPECTED["reveals"]
    assert dashboard.totals["contributions"] == 3
    assert dashboard.totals["reveals"] == 3


def test_points_issued_spent_and_pending(db, planted):
    """Issued leaves voided points out, spent counts reveals, and pending is
    the total waiting to vest at the end of each day."""
    dashboard = build(db)
    assert per_day(dashboard.points, "issued") == EXPECTED["issued"]
    assert per_day(dashboard.points, "spent") == EXPECTED["spent"]
    assert [row.pending for row in dashboard.points] == EXPECTED["pending"]
    assert dashboard.pending_now == EXPECTED["pending_now"]
    assert (dashboard.totals["issued"], dashboard.totals["spent"]) == (35, 20)


def test_pending_matches_the_ledger_at_the_end_of_each_day(db, planted):
    """The pending line equals, day by day, the planted entries that had been
    created and not yet vested by midnight (voided ones left out)."""
    entries = [e for e in planted.entries.values() if e.state.value != "void"]
    for row in build(db).points:
        midnight = metrics.day_start(row.day + timedelta(days=1))
        waiting = sum(
            e.delta
            for e in entries
            if e.delta > 0
            and e.created_at < midnight
            and (e.vested_at is None or e.vested_at >= midnight)
            and (e.vested_at is None or e.vested_at > e.created_at)
        )
        assert row.pending == waiting, row.day


def test_moderation_backlog_and_its_age(db, planted):
    """Open and claimed flags, the overdue ones, the oldest and the age buckets."""
    backlog = build(db).backlog
    expected = EXPECTED["backlog"]
    assert (backlog.open, backlog.claimed, backlog.overdue) == (
        expected["open"],
        expected["claimed"],
        expected["overdue"],
    )
    assert backlog.oldest == timedelta(days=expected["oldest_days"])
    assert [count for _, count in backlog.by_age] == EXPECTED["backlog_by_age"]
    assert [label for label, _ in backlog.by_age] == [
        "Under 1 day",
        "1 to 3 days",
        "3 to 7 days",
        "7 to 14 days",
        "14 days or more",
    ]


def test_jobs_waiting_running_and_failed_in_range(db, planted):
    """Jobs queued and running now; failures counted only within the range."""
    jobs = build(db).jobs
    assert jobs.__dict__ == EXPECTED["jobs"]


def test_a_narrower_range_counts_only_its_days(db, planted):
    """Only 9 and 10 June: the figures of other days are left out."""
    dashboard = build(db, date(2026, 6, 9), date(2026, 6, 10))
    assert per_day(dashboard.activity, "contributions") == {date(2026, 6, 9): 2}
    assert per_day(dashboard.points, "issued") == {date(2026, 6, 9): 10}
    assert [row.pending for row in dashboard.points] == [10, 10]
    # The members chart shows the whole week of 8 June.
    assert [(w.new, w.active) for w in dashboard.members.weeks] == [(1, 2)]
    assert dashboard.members.new_in_range == 1
    assert dashboard.jobs.failed_in_range == 1


def test_roll_up_equals_live_computation(db, planted):
    """After the roll-up the dashboard shows exactly what live counting gave,
    and each rolled-up day equals the live count of that day."""
    live = build(db)
    result = metrics.roll_up_daily_metrics(db.session, NOW, refresh_days=30)
    db.session.commit()
    assert (result.first_day, result.last_day) == (date(2026, 1, 1), date(2026, 6, 16))
    rolled = build(db)
    assert rolled.rolled_up_through == date(2026, 6, 16)
    assert live.rolled_up_through is None
    for name in ("members", "activity", "points", "totals", "pending_now"):
        assert getattr(rolled, name) == getattr(live, name), name
    counted = metrics.count_flows_live(
        db.session, metrics.day_start(date(2026, 1, 1)), metrics.day_start(NOW.date())
    )
    weeks = metrics.count_active_weeks_live(
        db.session, metrics.day_start(date(2025, 12, 29)), NOW
    )
    pending = {row.day: row.pending for row in live.points}
    for day, name, value in rolled_rows(db):
        if name == metrics.WEEKLY_ACTIVE:
            assert weeks.get(day, 0) == value, (day, name)
        elif name == metrics.PENDING_STOCK:
            assert pending.get(day, value) == value, (day, name)
        else:
            assert counted[name].get(day, 0) == value, (day, name)
    stored_pending = {d: v for d, n, v in rolled_rows(db) if n == metrics.PENDING_STOCK}
    assert stored_pending[date(2026, 6, 8)] == 5
    assert stored_pending[date(2026, 6, 16)] == 5


def test_roll_up_is_idempotent(db, planted):
    """Running the roll-up twice the same day leaves the same rows."""
    metrics.roll_up_daily_metrics(db.session, NOW, refresh_days=30)
    db.session.commit()
    first = rolled_rows(db)
    again = metrics.roll_up_daily_metrics(db.session, NOW, refresh_days=30)
    db.session.commit()
    assert rolled_rows(db) == first
    assert (again.first_day, again.last_day) == (date(2026, 5, 18), date(2026, 6, 16))
    # Each day from 1 January to 16 June (the flows and the pending total);
    # each finished week from the one
    # holding 1 January (Monday 29 December) to the week of 8 June.
    assert len(first) == 167 * (len(metrics.FLOW_NAMES) + 1) + 24
    weekly = sorted(day for day, name, _ in first if name == metrics.WEEKLY_ACTIVE)
    assert (weekly[0], weekly[-1]) == (date(2025, 12, 29), date(2026, 6, 8))


def test_roll_up_next_day_takes_in_a_late_void(db, planted, frozen):
    """A pending entry voided after its day was rolled up leaves the issued and
    pending figures of that day at the next run, which equal live again
    (until then the rolled-up day still holds it)."""
    metrics.roll_up_daily_metrics(db.session, NOW, refresh_days=30)
    db.session.commit()
    ledger.void(db.session, planted.entries["e2"])
    db.session.commit()
    frozen.move_to(NOW + timedelta(days=1))
    tomorrow = NOW + timedelta(days=1)
    before = build(db, now=tomorrow)
    assert before.rolled_up_through == date(2026, 6, 16)
    metrics.roll_up_daily_metrics(db.session, tomorrow, refresh_days=30)
    db.session.commit()
    after = build(db, now=tomorrow)
    assert after.rolled_up_through == date(2026, 6, 17)
    assert per_day(after.points, "issued")[date(2026, 6, 9)] == 5
    assert after.points != before.points
    db.session.execute(delete(DailyMetric))
    live = build(db, now=tomorrow)
    assert live.rolled_up_through is None
    assert (after.points, after.activity) == (live.points, live.activity)


def test_long_ranges_group_the_daily_charts_by_week(db, planted):
    """Past the daily limit, contributions and points come per week (cut at
    the range's ends), pending taken at the end of each week."""
    dashboard = build(db, date(2026, 6, 3), LAST, daily_max_days=7)
    assert dashboard.weekly
    assert [row.day for row in dashboard.activity] == [
        date(2026, 6, 3),
        date(2026, 6, 8),
        date(2026, 6, 15),
    ]
    assert [row.contributions for row in dashboard.activity] == [0, 2, 1]
    assert [(row.issued, row.spent) for row in dashboard.points] == [
        (0, 0),
        (10, 10),
        (25, 10),
    ]
    assert [row.pending for row in dashboard.points] == [5, 5, 10]


def test_roll_up_of_an_empty_database_writes_nothing(db, frozen):
    """With no data at all there is nothing to roll up, and no error."""
    result = metrics.roll_up_daily_metrics(db.session, NOW, refresh_days=30)
    assert result.days == 0
    assert db.session.scalar(select(func.count()).select_from(DailyMetric)) == 0


def test_scheduled_roll_up_job_is_tracked(app, db, planted, run_jobs):
    """The scheduler's entry point records a JobRun; the job writes the roll-up
    and succeeds; a second run changes no figure."""
    from workers.jobs import start_scheduled_job

    assert "roll_up_daily_metrics" in app.config["SCHEDULED_JOBS"]
    start_scheduled_job("roll_up_daily_metrics")
    assert run_jobs() == 1
    run = db.session.scalars(
        select(JobRun).where(JobRun.kind == "roll_up_daily_metrics")
    ).one()
    assert run.state == JobState.SUCCEEDED
    assert run.result == {
        "first_day": "2026-01-01",
        "last_day": "2026-06-16",
        "days": 167,
    }
    rows = rolled_rows(db)
    start_scheduled_job("roll_up_daily_metrics")
    assert run_jobs() == 1
    assert rolled_rows(db) == rows
