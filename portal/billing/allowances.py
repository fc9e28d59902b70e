"""The monthly plan allowance: once per member per month, whatever happens.

Each grant's idempotency key is ``allowance:<member id>:<YYYY-MM>``, so a run
repeated, retried after a crash, or late (the job runs daily and grants the
current month to every seat holder who has not had it) grants once. A member
who moves to another organisation mid-month is not granted twice.

Each organisation is granted in a transaction of its own that first takes the
organisation's row lock (PostgreSQL; SQLite's write lock does the same), the
lock ``plans.change_plan`` takes: a plan change during a run lands wholly
before or wholly after that organisation's grant, never half-way. A change
that lands after is seen by the next daily run, still within the month.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import ledger
from portal.billing.plans import allowance_per_seat, seat_holders
from portal.billing.rules import BillingRules
from portal.models import EntryKind, LedgerEntry, Organisation
from portal.models.accounts import Plan

PAID_PLANS = (Plan.PRO, Plan.ENTERPRISE)


def month_of(now: datetime) -> str:
    return f"{now:%Y-%m}"


def allowance_key(member_id: int, month: str) -> str:
    return f"allowance:{member_id}:{month}"


@dataclass(frozen=True)
class AllowanceResult:
    month: str
    organisations: int
    granted: int  # members granted by this run
    points: int


def grant_organisation_allowance(
    session: Session, organisation_id: int, now: datetime, rules: BillingRules
) -> tuple[int, int]:
    """Grant this month's allowance to the organisation's seat holders who have
    not had it; returns (members granted, points). Flushes."""
    organisation = session.scalars(
        select(Organisation)
        .where(Organisation.id == organisation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    amount = allowance_per_seat(organisation, rules)
    if amount <= 0:
        return 0, 0
    month = month_of(now)
    holders = seat_holders(session, organisation)
    keys = {allowance_key(member.id, month): member for member in holders}
    already = set(
        session.scalars(
            select(LedgerEntry.idempotency_key).where(
                LedgerEntry.idempotency_key.in_(list(keys))
            )
        )
    )
    note = f"{organisation.plan.value.capitalize()} plan allowance for {now:%B %Y}"
    granted = 0
    for key, member in keys.items():
        if key in already:
            continue
        ledger.record(
            session,
            member.id,
            amount,
            EntryKind.ALLOWANCE,
            key,
            reference=organisation,
            note=note,
        )
        granted += 1
    return granted, granted * amount


def grant_monthly_allowances(
    now: datetime,
    rules: BillingRules,
    *,
    after_organisation: Callable[[int], None] | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> AllowanceResult:
    """Grant this month's allowance on every paid plan, one organisation per
    transaction. After each commit ``after_organisation(id)`` is called and
    ``progress(percent, message)`` told how far the run is."""
    with ledger.write_transaction() as session:
        organisation_ids = list(
            session.scalars(
                select(Organisation.id)
                .where(Organisation.plan.in_(PAID_PLANS))
                .order_by(Organisation.id)
            )
        )
    granted = points = 0
    for done, organisation_id in enumerate(organisation_ids, start=1):
        with ledger.write_transaction() as session:
            members, given = grant_organisation_allowance(
                session, organisation_id, now, rules
            )
        granted += members
        points += given
        if after_organisation is not None:
            after_organisation(organisation_id)
        if progress is not None:
            total = len(organisation_ids)
            progress(done * 100 // total, f"{done} of {total} organisations")
    return AllowanceResult(month_of(now), len(organisation_ids), granted, points)
