"""Every figure on the admin dashboard, and the daily roll-up that keeps it fast.

Per-day figures (flows) come from ``daily_metrics`` for the days the
``roll_up_daily_metrics`` job has finished, and are counted live for the days
after its last one (today's partial day at least), with the same queries, so
the two always agree. What each daily metric counts (days are UTC):

- ``members_new``: members who registered that day.
- ``contributions``: contacts added that day (revisions of kind contribution).
- ``reveals``: contacts revealed that day (unlocks).
- ``points_issued``: points credited that day, pending or vested (positive
  ledger entries that were not voided).
- ``points_spent``: points members spent on reveals that day.
- ``points_pending_in`` / ``points_pending_out``: points that started waiting
  to vest that day / that vested that day after waiting. With the points
  pending now they give the pending total at the end of every past day.

Voided entries count nowhere: a voided contribution's points were never
issued. A void can come after its day was rolled up, so each run of the job
recomputes the last ``refresh_days`` days as well as the new ones.

Stocks (contacts by state, the moderation backlog, jobs) are counted live:
they are current states, read through indexes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from sqlalchemy import (
    ColumnElement,
    Date,
    String,
    case,
    delete,
    distinct,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from portal.models import (
    Company,
    ContactState,
    DailyMetric,
    EntryKind,
    EntryState,
    Flag,
    FlagState,
    JobRun,
    JobState,
    LedgerEntry,
    Member,
    MemberSession,
    OutboxMessage,
    OutboxState,
    Revision,
    RevisionKind,
    Unlock,
)
from portal.models.accounts import MemberStatus
from portal.models.directory import Contact


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time(0), UTC)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _day_of(session: Session, column) -> ColumnElement:
    """The UTC calendar day of a timestamp column, on either database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column), type_=Date)
    # SQLite keeps naive UTC text, "YYYY-MM-DD HH:MM:SS.ffffff".
    return func.substr(column, 1, 10, type_=String)


def _monday_of(session: Session, column) -> ColumnElement:
    """The Monday starting the UTC week of a timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        week = func.date_trunc("week", func.timezone("UTC", column))
        return func.date(week, type_=Date)
    return func.date(column, "weekday 0", "-6 days", type_=String)


# --- Daily flows ---------------------------------------------------------------


@dataclass(frozen=True)
class DailyFlow:
    """One per-day figure: ``value`` summed over rows whose ``column`` falls
    on the day and that meet ``where``."""

    name: str
    column: object
    value: Callable[[], ColumnElement]
    where: Callable[[], tuple[ColumnElement, ...]] = tuple


FLOWS: tuple[DailyFlow, ...] = (
    DailyFlow("members_new", Member.created_at, lambda: func.count()),
    DailyFlow(
        "contributions",
        Revision.created_at,
        lambda: func.count(),
        lambda: (Revision.kind == RevisionKind.CONTRIBUTION,),
    ),
    DailyFlow("reveals", Unlock.created_at, lambda: func.count()),
    DailyFlow(
        "points_issued",
        LedgerEntry.created_at,
        lambda: func.sum(LedgerEntry.delta),
        lambda: (LedgerEntry.delta > 0, LedgerEntry.state != EntryState.VOID),
    ),
    DailyFlow(
        "points_spent",
        LedgerEntry.created_at,
        lambda: func.sum(-LedgerEntry.delta),
        lambda: (LedgerEntry.kind == EntryKind.UNLOCK,),
    ),
    # An entry vested at creation has vested_at set just before created_at
    # (ledger.record), so "vested after it was created" means it waited.
    DailyFlow(
        "points_pending_in",
        LedgerEntry.created_at,
        lambda: func.sum(LedgerEntry.delta),
        lambda: (
            LedgerEntry.state != EntryState.VOID,
            (LedgerEntry.state == EntryState.PENDING)
            | (LedgerEntry.vested_at > LedgerEntry.created_at),
        ),
    ),
    DailyFlow(
        "points_pending_out",
        LedgerEntry.vested_at,
        lambda: func.sum(LedgerEntry.delta),
        lambda: (LedgerEntry.vested_at > LedgerEntry.created_at,),
    ),
)
FLOW_NAMES = tuple(flow.name for flow in FLOWS)


def count_flows_live(
    session: Session, start: datetime, end: datetime
) -> dict[str, dict[date, int]]:
    """Each flow per UTC day for rows with ``start <= time < end``, counted
    from the source tables. Days without rows are absent."""
    counted: dict[str, dict[date, int]] = {}
    for flow in FLOWS:
        day = _day_of(session, flow.column)
        rows = session.execute(
            select(day, flow.value())
            .where(flow.column >= start, flow.column < end, *flow.where())
            .group_by(day)
        ).all()
        counted[flow.name] = {_as_date(d): int(v or 0) for d, v in rows}
    return counted


def rolled_up_through(session: Session) -> date | None:
    """The last day the roll-up holds, or None before its first run."""
    return session.scalar(select(func.max(DailyMetric.day)))


def _earliest_day(session: Session) -> date | None:
    columns = {str(flow.column): flow.column for flow in FLOWS}
    firsts = [session.scalar(select(func.min(column))) for column in columns.values()]
    known = [value for value in firsts if value is not None]
    return min(known).astimezone(UTC).date() if known else None


@dataclass(frozen=True)
class RollUpResult:
    first_day: date | None
    last_day: date | None
    days: int

    def as_dict(self) -> dict:
        return {
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "days": self.days,
        }


def roll_up_daily_metrics(
    session: Session, today: date, refresh_days: int
) -> RollUpResult:
    """Write every flow for each finished day (before ``today``) not yet rolled
    up, and again for the last ``refresh_days`` days. Idempotent: a second run
    the same day rewrites the same rows. Flushes; the caller commits."""
    last = rolled_up_through(session)
    if last is None:
        first = _earliest_day(session)
        if first is None:
            return RollUpResult(None, None, 0)
    else:
        first = min(last + timedelta(days=1), today - timedelta(days=refresh_days))
    final = today - timedelta(days=1)
    if first > final:
        return RollUpResult(None, None, 0)
    counted = count_flows_live(session, day_start(first), day_start(today))
    session.execute(
        delete(DailyMetric).where(DailyMetric.day >= first, DailyMetric.day <= final)
    )
    days = [first + timedelta(days=n) for n in range((final - first).days + 1)]
    # Zero rows too: the last row's day says how far the roll-up reaches.
    session.execute(
        insert(DailyMetric),
        [
            {"day": day, "metric": name, "value": counted[name].get(day, 0)}
            for day in days
            for name in FLOW_NAMES
        ],
    )
    session.flush()
    return RollUpResult(first, final, len(days))


def daily_flows(
    session: Session, first: date, last: date, now: datetime
) -> tuple[dict[str, dict[date, int]], date | None]:
    """Each flow for every day from ``first`` to ``last`` (inclusive, ``last``
    at most today): rolled-up days from the roll-up, later days live up to
    ``now``. Also returns the last rolled-up day."""
    through = rolled_up_through(session)
    flows: dict[str, dict[date, int]] = {name: {} for name in FLOW_NAMES}
    if through is not None and through >= first:
        rows = session.execute(
            select(DailyMetric.day, DailyMetric.metric, DailyMetric.value).where(
                DailyMetric.day >= first,
                DailyMetric.day <= min(last, through),
                DailyMetric.metric.in_(FLOW_NAMES),
            )
        ).all()
        for day, name, value in rows:
            flows[name][day] = value
    live_from = first if through is None else max(first, through + timedelta(days=1))
    if live_from <= last:
        live = count_flows_live(
            session, day_start(live_from), min(day_start(last + timedelta(1)), now)
        )
        for name, per_day in live.items():
            flows[name].update(per_day)
    return flows, through


# --- The dashboard ---------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [
            self.first + timedelta(days=n)
            for n in range((self.last - self.first).days + 1)
        ]


@dataclass(frozen=True)
class WeekRow:
    first_day: date  # the first day of the week inside the range
    new: int
    active: int


@dataclass(frozen=True)
class MemberFigures:
    weeks: list[WeekRow]
    total: int
    suspended: int
    new_in_range: int
    active_in_range: int


@dataclass(frozen=True)
class ActivityRow:
    day: date
    contributions: int
    reveals: int


@dataclass(frozen=True)
class PointsRow:
    day: date
    issued: int
    spent: int
    pending: int


@dataclass(frozen=True)
class Backlog:
    open: int
    claimed: int
    overdue: int
    oldest: timedelta | None
    by_age: list[tuple[str, int]]

    @property
    def total(self) -> int:
        return self.open + self.claimed


@dataclass(frozen=True)
class JobFigures:
    queued: int
    running: int
    retrying: int
    failed_in_range: int


@dataclass(frozen=True)
class Dashboard:
    range: DateRange
    rolled_up_through: date | None
    members: MemberFigures
    contacts_by_state: list[tuple[ContactState, int]]
    activity: list[ActivityRow]
    points: list[PointsRow]
    pending_now: int
    backlog: Backlog
    jobs: JobFigures
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def contacts(self) -> int:
        return sum(count for _, count in self.contacts_by_state)


def _count(session: Session, statement) -> int:
    return int(session.scalar(statement) or 0)


def contacts_by_state(session: Session) -> list[tuple[ContactState, int]]:
    """Every contact state with its count (zero included), in the enum's order."""
    counts = dict(
        session.execute(
            select(Contact.state, func.count()).group_by(Contact.state)
        ).all()
    )
    return [(state, counts.get(state, 0)) for state in ContactState]


def member_figures(
    session: Session, days: DateRange, new_per_day: dict[date, int], now: datetime
) -> MemberFigures:
    """New members and active members (logged in at least once) per week."""
    start = day_start(days.first)
    end = min(day_start(days.last + timedelta(days=1)), now)
    monday = _monday_of(session, MemberSession.created_at)
    active_by_week = {
        _as_date(week): count
        for week, count in session.execute(
            select(monday, func.count(distinct(MemberSession.member_id)))
            .where(MemberSession.created_at >= start, MemberSession.created_at < end)
            .group_by(monday)
        ).all()
    }
    weeks: dict[date, list[date]] = defaultdict(list)
    for day in days.days:
        weeks[day - timedelta(days=day.weekday())].append(day)
    rows = [
        WeekRow(
            first_day=in_range[0],
            new=sum(new_per_day.get(day, 0) for day in in_range),
            active=active_by_week.get(week, 0),
        )
        for week, in_range in sorted(weeks.items())
    ]
    return MemberFigures(
        weeks=rows,
        total=_count(session, select(func.count()).select_from(Member)),
        suspended=_count(
            session,
            select(func.count())
            .select_from(Member)
            .where(Member.status == MemberStatus.SUSPENDED),
        ),
        new_in_range=sum(row.new for row in rows),
        active_in_range=_count(
            session,
            select(func.count(distinct(MemberSession.member_id))).where(
                MemberSession.created_at >= start, MemberSession.created_at < end
            ),
        ),
    )


def pending_now(session: Session) -> int:
    """Points waiting to vest right now."""
    return _count(
        session,
        select(func.sum(LedgerEntry.delta)).where(
            LedgerEntry.state == EntryState.PENDING
        ),
    )


def points_series(
    days: DateRange,
    flows: dict[str, dict[date, int]],
    pending: int,
    today: date,
) -> list[PointsRow]:
    """Issued, spent and pending-at-end-of-day for each day of ``days``.

    The pending total at the end of a day is today's, less what started
    waiting and plus what vested on every later day up to today."""
    pending_in, pending_out = flows["points_pending_in"], flows["points_pending_out"]
    pending_at: dict[date, int] = {}
    running = pending
    day = today
    while day >= days.first:
        pending_at[day] = running
        running -= pending_in.get(day, 0) - pending_out.get(day, 0)
        day -= timedelta(days=1)
    return [
        PointsRow(
            day=day,
            issued=flows["points_issued"].get(day, 0),
            spent=flows["points_spent"].get(day, 0),
            pending=pending_at[day],
        )
        for day in days.days
    ]


def backlog(session: Session, now: datetime, age_edges: Sequence[int]) -> Backlog:
    """Open and claimed flags, how many are overdue, and their ages, bucketed
    at ``age_edges`` days (e.g. 1, 3, 7, 14: under 1 day, 1-3 days, ...)."""
    waiting = Flag.state.in_([FlagState.OPEN, FlagState.CLAIMED])
    by_state = dict(
        session.execute(
            select(Flag.state, func.count()).where(waiting).group_by(Flag.state)
        ).all()
    )
    overdue = _count(
        session,
        select(func.count()).select_from(Flag).where(waiting, Flag.due_at < now),
    )
    oldest_at = session.scalar(select(func.min(Flag.created_at)).where(waiting))
    edges = sorted(age_edges)
    # Bucket i holds flags younger than edges[i] days and not younger than the
    # edge before; the last bucket the rest.
    bucket = case(
        *[
            (Flag.created_at > now - timedelta(days=edge), index)
            for index, edge in enumerate(edges)
        ],
        else_=len(edges),
    )
    per_bucket = dict(
        session.execute(
            select(bucket, func.count()).where(waiting).group_by(bucket)
        ).all()
    )
    by_age = [
        (label, per_bucket.get(index, 0))
        for index, label in enumerate(_age_labels(edges))
    ]
    return Backlog(
        open=by_state.get(FlagState.OPEN, 0),
        claimed=by_state.get(FlagState.CLAIMED, 0),
        overdue=overdue,
        oldest=now - oldest_at if oldest_at is not None else None,
        by_age=by_age,
    )


def _age_labels(edges: Sequence[int]) -> list[str]:
    def days(n: int) -> str:
        return f"{n} day{'s' if n != 1 else ''}"

    labels = [f"Under {days(edges[0])}"]
    labels += [f"{low} to {days(high)}" for low, high in pairwise(edges)]
    labels.append(f"{days(edges[-1])} or more")
    return labels


def job_figures(session: Session, days: DateRange) -> JobFigures:
    """Jobs waiting or running now, and jobs that failed within ``days``."""
    by_state = dict(
        session.execute(
            select(JobRun.state, func.count())
            .where(
                JobRun.state.in_([JobState.QUEUED, JobState.RUNNING, JobState.RETRYING])
            )
            .group_by(JobRun.state)
        ).all()
    )
    failed = _count(
        session,
        select(func.count())
        .select_from(JobRun)
        .where(
            JobRun.state == JobState.FAILED,
            JobRun.finished_at >= day_start(days.first),
            JobRun.finished_at < day_start(days.last + timedelta(days=1)),
        ),
    )
    return JobFigures(
        queued=by_state.get(JobState.QUEUED, 0),
        running=by_state.get(JobState.RUNNING, 0),
        retrying=by_state.get(JobState.RETRYING, 0),
        failed_in_range=failed,
    )


def build_dashboard(
    session: Session,
    days: DateRange,
    now: datetime,
    *,
    backlog_age_edges: Iterable[int],
) -> Dashboard:
    """Every figure the dashboard shows for ``days`` (the last at most today)."""
    today = now.astimezone(UTC).date()
    flows, through = daily_flows(session, days.first, today, now)
    activity = [
        ActivityRow(
            day=day,
            contributions=flows["contributions"].get(day, 0),
            reveals=flows["reveals"].get(day, 0),
        )
        for day in days.days
    ]
    pending = pending_now(session)
    points = points_series(days, flows, pending, today)
    return Dashboard(
        range=days,
        rolled_up_through=through,
        members=member_figures(session, days, flows["members_new"], now),
        contacts_by_state=contacts_by_state(session),
        activity=activity,
        points=points,
        pending_now=pending,
        backlog=backlog(session, now, list(backlog_age_edges)),
        jobs=job_figures(session, days),
        totals={
            "contributions": sum(row.contributions for row in activity),
            "reveals": sum(row.reveals for row in activity),
            "issued": sum(row.issued for row in points),
            "spent": sum(row.spent for row in points),
        },
    )


def headline_counts(session: Session) -> dict[str, int]:
    """Companies, and outbox messages in all and failed."""
    return {
        "companies": _count(session, select(func.count()).select_from(Company)),
        "outbox_total": _count(
            session, select(func.count()).select_from(OutboxMessage)
        ),
        "outbox_failed": _count(
            session,
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.state == OutboxState.FAILED),
        ),
    }


PRESET_DAYS = (7, 30, 90, 365)


def range_presets(today: date, max_days: int) -> list[tuple[str, DateRange]]:
    """The ranges offered as one-click links: the last 7, 30, 90, 365 days."""
    return [
        (f"Last {days} days", DateRange(today - timedelta(days=days - 1), today))
        for days in PRESET_DAYS
        if days <= max_days
    ]
