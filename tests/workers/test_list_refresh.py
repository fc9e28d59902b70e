"""Scheduled refreshes: the delivered file matched again, delivered at once
within the price cap, waiting for an admin above it; admins emailed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import time_machine
from sqlalchemy import func, select

from portal import queue
from portal.lists import delivery, schedules
from portal.models import (
    Contact,
    Invoice,
    ListState,
    MatchList,
    OutboxMessage,
    RefreshInterval,
)
from portal.models.base import utcnow
from tests.lists_helpers import make_org_member, make_pool, read_csv_rows, upload_list

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _delivered(app, db, factories, run_jobs, cap: str):
    robert, carla = make_pool(factories)
    admin = make_org_member(factories)
    with time_machine.travel(START, tick=False):
        match_list = upload_list(app, admin)
        run_jobs()
        db.session.refresh(match_list)
        delivery.accept_quote(db.session, match_list, member=admin, now=utcnow())
        db.session.commit()
        run_jobs()
        db.session.refresh(match_list)
        schedules.set_schedule(
            match_list,
            interval=RefreshInterval.WEEKLY,
            price_cap=Decimal(cap),
            now=utcnow(),
        )
        db.session.commit()
    return match_list, robert, carla, admin


def _refresh(db, run_jobs, when):
    with time_machine.travel(when, tick=False):
        queue.start_job("refresh_lists")
        db.session.commit()
        run_jobs()
    db.session.expire_all()


def test_a_refresh_within_the_cap_is_delivered(app, db, factories, run_jobs):
    """A week on, Robert has a new title: the refresh bills only that change,
    is accepted within the cap, delivered, and the admin is told."""
    first, robert, _, admin = _delivered(app, db, factories, run_jobs, cap="5.00")
    assert first.next_refresh_at == START + timedelta(days=7)
    _refresh(db, run_jobs, START + timedelta(days=6))
    assert db.session.scalar(select(func.count(MatchList.id))) == 1  # not yet due
    db.session.get(Contact, robert.id).title = "Chief Revenue Officer"
    db.session.commit()
    _refresh(db, run_jobs, START + timedelta(days=7, minutes=5))
    second = db.session.scalar(
        select(MatchList).where(MatchList.refresh_of_id == first.id)
    )
    assert second.state == ListState.DELIVERED, second.message
    # Rows 101 and 104 are Robert: only his title changed since the delivery.
    assert second.delivered_records == 2
    assert second.quote_total == Decimal("1.00")
    assert second.summary["per_field_changes"]["phone"] == {"added": 0, "updated": 0}
    assert second.refresh_interval == RefreshInterval.WEEKLY
    assert second.next_refresh_at == START + timedelta(days=14, minutes=5)
    assert db.session.get(MatchList, first.id).refresh_interval is None
    assert db.session.scalar(select(func.count(Invoice.id))) == 2
    output = read_csv_rows(
        delivery.output_path(app.config["INSTANCE_PATH"], second).read_bytes()
    )
    assert output[0].count("tessera_status") == 1
    assert "Chief Revenue Officer" in output[1]
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "list_refresh")
    )
    assert message.to_address == admin.email
    assert "was refreshed" in message.subject


def test_a_refresh_over_the_cap_waits_for_acceptance(app, db, factories, run_jobs):
    """Over the cap the refreshed list stays quoted and the admin is asked."""
    first, robert, _, admin = _delivered(app, db, factories, run_jobs, cap="0.10")
    db.session.get(Contact, robert.id).title = "Chief Revenue Officer"
    db.session.commit()
    _refresh(db, run_jobs, START + timedelta(days=7, minutes=5))
    second = db.session.scalar(
        select(MatchList).where(MatchList.refresh_of_id == first.id)
    )
    assert second.state == ListState.QUOTED
    assert second.quote_total == Decimal("1.00")
    assert db.session.scalar(select(func.count(Invoice.id))) == 1
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "list_refresh")
    )
    assert "waits for you" in message.subject and "0.10" in message.body_text


def test_monthly_keeps_the_day_or_the_month_end():
    """Monthly refreshes fall on the same day, or the month's last day."""
    jan31 = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
    assert schedules.advance(jan31, RefreshInterval.MONTHLY) == datetime(
        2027, 2, 28, 9, 0, tzinfo=UTC
    )
    dec15 = datetime(2026, 12, 15, tzinfo=UTC)
    assert schedules.advance(dec15, RefreshInterval.MONTHLY) == datetime(
        2027, 1, 15, tzinfo=UTC
    )
