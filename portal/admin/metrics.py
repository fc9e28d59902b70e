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

Stocks: the points pending at the end of each rolled-up day are rolled up
too (``points_pending``), so "pending now" is the last one plus the live days'
flows; active members per finished week (``members_active_week``, on its
Monday) likewise, this week counted live. Contacts by state come from the
counters that triggers keep (``contact_state_counts``); the moderation
backlog and the jobs are small and counted live through indexes.
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
    and_,
    case,
    delete,
    distinct,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session

from portal.models import (
    Company,
    ContactState,
    ContactStateCount,
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
    """One per-day figure: ``amount`` summed over the rows whose ``column``
    falls on the day and that meet ``where``."""

    name: str
    column: object
    amount: Callable[[], ColumnElement] = lambda: literal(1)
    where: Callable[[], tuple[ColumnElement, ...]] = tuple


FLOWS: tuple[DailyFlow, ...] = (
    DailyFlow("members_new", Member.created_at),
    DailyFlow(
        "contributions",
        Revision.created_at,
        where=lambda: (Revision.kind == RevisionKind.CONTRIBUTION,),
    ),
    DailyFlow("reveals", Unlock.created_at),
    DailyFlow(
        "points_issued",
        LedgerEntry.created_at,
        lambda: LedgerEntry.delta,
        lambda: (LedgerEntry.delta > 0, LedgerEntry.state != EntryState.VOID),
    ),
    DailyFlow(
        "points_spent",
        LedgerEntry.created_at,
        lambda: -LedgerEntry.delta,
        lambda: (LedgerEntry.kind == EntryKind.UNLOCK,),
    ),
    # An entry vested at creation has vested_at set just before created_at
    # (ledger.record), so "vested after it was created" means it waited.
    DailyFlow(
        "points_pending_in",
        LedgerEntry.created_at,
        lambda: LedgerEntry.delta,
        lambda: (
            LedgerEntry.state != EntryState.VOID,
            (LedgerEntry.state == EntryState.PENDING)
            | (LedgerEntry.vested_at > LedgerEntry.created_at),
        ),
    ),
    DailyFlow(
        "points_pending_out",
        LedgerEntry.vested_at,
        lambda: LedgerEntry.delta,
        lambda: (LedgerEntry.vested_at > LedgerEntry.created_at,),
    ),
)
FLOW_NAMES = tuple(flow.name for flow in FLOWS)


def _summed(flow: DailyFlow) -> ColumnElement:
    where = flow.where()
    if not where:
        return func.sum(flow.amount())
    return func.sum(case((and_(*where), flow.amount()), else_=0))


def count_flows_live(
    session: Session, start: datetime, end: datetime
) -> dict[str, dict[date, int]]:
    """Each flow per UTC day for rows with ``start <= time < end``, counted
    from the source tables (one pass per table and timestamp column). Days
    without a figure are absent."""
    counted: dict[str, dict[date, int]] = {flow.name: {} for flow in FLOWS}
    by_column: dict[str, list[DailyFlow]] = defaultdict(list)
    for flow in FLOWS:
        by_column[str(flow.column)].append(flow)
    for flows in by_column.values():
        column = flows[0].column
        day = _day_of(session, column)
        rows = session.execute(
            select(day, *map(_summed, flows))
            .where(column >= start, column < end)
            .group_by(day)
        ).all()
        for raw_day, *values in rows:
            for flow, value in zip(flows, values, strict=True):
                if value:
                    counted[flow.name][_as_date(raw_day)] = int(value)
    return counted


def rolled_up_through(session: Session) -> date | None:
    """The last day the roll-up holds, or None before its first run."""
    return session.scalar(
        select(func.max(DailyMetric.day)).where(DailyMetric.metric == FLOW_NAMES[0])
    )


# The points pending at the end of each rolled-up day.
PENDING_STOCK = "points_pending"
PENDING_FLOWS = ("points_pending_in", "points_pending_out")


# Distinct members who logged in during a Monday-to-Sunday week, kept on the
# week's Monday once the week is over (distinct counts do not add up by day).
WEEKLY_ACTIVE = "members_active_week"


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def count_active_weeks_live(
    session: Session, start: datetime, end: datetime
) -> dict[date, int]:
    """Members who logged in at least once, per week (keyed by its Monday),
    counting log-ins with ``start <= time < end``."""
    week = _monday_of(session, MemberSession.created_at)
    rows = session.execute(
        select(week, func.count(distinct(MemberSession.member_id)))
        .where(MemberSession.created_at >= start, MemberSession.created_at < end)
        .group_by(week)
    ).all()
    return {_as_date(monday): count for monday, count in rows}


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
    session: Session, now: datetime, refresh_days: int
) -> RollUpResult:
    """Write every flow for each finished day (before ``today``) not yet rolled
    up, and again for the last ``refresh_days`` days; also the points pending
    at the end of those days, the active members of finished weeks, and the
    contact counters folded. Idempotent: a second run the same day rewrites
    the same rows. Flushes; the caller commits."""
    today = now.astimezone(UTC).date()
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
    # Through now, not midnight: today's part is what the pending totals need.
    counted = count_flows_live(session, day_start(first), now)
    session.execute(
        delete(DailyMetric).where(
            DailyMetric.day >= first,
            DailyMetric.day <= final,
            DailyMetric.metric.in_(FLOW_NAMES),
        )
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
    _roll_up_pending(session, first, final, today, counted)
    _roll_up_weeks(session, monday_of(first), monday_of(today) - timedelta(days=7))
    fold_contact_state_counts(session)
    session.flush()
    return RollUpResult(first, final, len(days))


def _roll_up_pending(
    session: Session,
    first: date,
    final: date,
    today: date,
    counted: dict[str, dict[date, int]],
) -> None:
    """Write the points pending at the end of each day from ``first`` to
    ``final``: those pending now, less what started waiting and plus what
    vested since each day ended (``counted``: the flows from ``first`` to now)."""
    running = pending_now_live(session)
    ends: dict[date, int] = {}
    day = today
    while day >= first:
        ends[day] = running
        running -= counted["points_pending_in"].get(day, 0)
        running += counted["points_pending_out"].get(day, 0)
        day -= timedelta(days=1)
    session.execute(
        delete(DailyMetric).where(
            DailyMetric.day >= first,
            DailyMetric.day <= final,
            DailyMetric.metric == PENDING_STOCK,
        )
    )
    session.execute(
        insert(DailyMetric),
        [
            {"day": day, "metric": PENDING_STOCK, "value": ends[day]}
            for day in sorted(ends)
            if day <= final
        ],
    )


def _roll_up_weeks(session: Session, first: date, last: date) -> None:
    """Write the active members of each finished week from Monday ``first``
    to Monday ``last``."""
    if first > last:
        return
    counted = count_active_weeks_live(
        session, day_start(first), day_start(last + timedelta(days=7))
    )
    session.execute(
        delete(DailyMetric).where(
            DailyMetric.day >= first,
            DailyMetric.day <= last,
            DailyMetric.metric == WEEKLY_ACTIVE,
        )
    )
    mondays = [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    session.execute(
        insert(DailyMetric),
        [
            {"day": monday, "metric": WEEKLY_ACTIVE, "value": counted.get(monday, 0)}
            for monday in mondays
        ],
    )


def weekly_active(
    session: Session, mondays: Sequence[date], now: datetime
) -> dict[date, int]:
    """Active members for each week starting on one of ``mondays``: finished
    weeks from the roll-up, the others (this week at least) counted live."""
    stored = dict(
        session.execute(
            select(DailyMetric.day, DailyMetric.value).where(
                DailyMetric.metric == WEEKLY_ACTIVE,
                DailyMetric.day >= mondays[0],
                DailyMetric.day <= mondays[-1],
            )
        ).all()
    )
    missing = [monday for monday in mondays if monday not in stored]
    if missing:
        live = count_active_weeks_live(
            session,
            day_start(missing[0]),
            min(day_start(missing[-1] + timedelta(days=7)), now),
        )
        stored.update({monday: live.get(monday, 0) for monday in missing})
    return stored


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

    @property
    def mondays(self) -> list[date]:
        """The Mondays of the weeks the range touches."""
        start, end = monday_of(self.first), monday_of(self.last)
        return [start + timedelta(weeks=n) for n in range((end - start).days // 7 + 1)]

    def buckets(self, daily_max_days: int) -> list[list[date]]:
        """The range's days, one per bucket, or grouped by week (cut at the
        range's ends) when the range is longer than ``daily_max_days``."""
        if len(self.days) <= daily_max_days:
            return [[day] for day in self.days]
        weeks: dict[date, list[date]] = defaultdict(list)
        for day in self.days:
            weeks[monday_of(day)].append(day)
        return list(weeks.values())


@dataclass(frozen=True)
class WeekRow:
    monday: date
    new: int
    active: int


@dataclass(frozen=True)
class MemberFigures:
    weeks: list[WeekRow]
    total: int
    suspended: int
    new_in_range: int
    active_recently: int


@dataclass(frozen=True)
class ActivityRow:
    day: date  # the bucket's first day
    contributions: int
    reveals: int


@dataclass(frozen=True)
class PointsRow:
    day: date  # the bucket's first day
    issued: int
    spent: int
    pending: int  # at the end of the bucket's last day


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
    weekly: bool  # the per-day charts grouped by week (a long range)
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
    """Every contact state with its count (zero included), in the enum's order,
    from the counters the contacts triggers keep."""
    counts = dict(
        session.execute(
            select(
                ContactStateCount.state, func.sum(ContactStateCount.contacts)
            ).group_by(ContactStateCount.state)
        ).all()
    )
    return [(state, int(counts.get(state.value) or 0)) for state in ContactState]


def fold_contact_state_counts(session: Session) -> None:
    """Fold the contact counters into one row per state. Rows that writers
    append meanwhile are left alone: only the rows deleted are summed."""
    folded: dict[str, int] = defaultdict(int)
    for state, contacts in session.execute(
        delete(ContactStateCount).returning(
            ContactStateCount.state, ContactStateCount.contacts
        )
    ).all():
        folded[state] += contacts
    if folded:
        session.execute(
            insert(ContactStateCount),
            [{"state": state, "contacts": n} for state, n in sorted(folded.items())],
        )


def member_figures(
    session: Session,
    days: DateRange,
    new_per_day: dict[date, int],
    now: datetime,
    active_days: int,
) -> MemberFigures:
    """New and active members (logged in at least once) for each whole week
    the range touches; members active in the last ``active_days`` days."""
    mondays = days.mondays
    active = weekly_active(session, mondays, now)
    rows = [
        WeekRow(
            monday=monday,
            new=sum(new_per_day.get(monday + timedelta(days=n), 0) for n in range(7)),
            active=active.get(monday, 0),
        )
        for monday in mondays
    ]
    total, suspended = session.execute(
        select(
            func.count(),
            func.sum(case((Member.status == MemberStatus.SUSPENDED, 1), else_=0)),
        ).select_from(Member)
    ).one()
    return MemberFigures(
        weeks=rows,
        total=total,
        suspended=int(suspended or 0),
        new_in_range=sum(new_per_day.get(day, 0) for day in days.days),
        active_recently=_count(
            session,
            select(func.count(distinct(MemberSession.member_id))).where(
                MemberSession.created_at >= now - timedelta(days=active_days)
            ),
        ),
    )


def pending_now_live(session: Session) -> int:
    """Points waiting to vest right now, summed from the ledger."""
    return _count(
        session,
        select(func.sum(LedgerEntry.delta)).where(
            LedgerEntry.state == EntryState.PENDING
        ),
    )


def pending_now(
    session: Session, through: date | None, flows: dict[str, dict[date, int]]
) -> int:
    """Points waiting to vest now: the total at the end of the last rolled-up
    day plus what started waiting, less what vested, since (``flows`` must
    hold the days after ``through``). Before any roll-up, the ledger's sum."""
    stored = None
    if through is not None:
        stored = session.scalar(
            select(DailyMetric.value).where(
                DailyMetric.day == through, DailyMetric.metric == PENDING_STOCK
            )
        )
    if stored is None:
        return pending_now_live(session)
    later = [day for name in PENDING_FLOWS for day in flows[name] if day > through]
    return stored + sum(
        flows["points_pending_in"].get(day, 0) - flows["points_pending_out"].get(day, 0)
        for day in set(later)
    )


def points_series(
    buckets: list[list[date]],
    flows: dict[str, dict[date, int]],
    pending: int,
    today: date,
) -> list[PointsRow]:
    """Issued and spent in each bucket, and pending at its end.

    The pending total at the end of a day is today's, less what started
    waiting and plus what vested on every later day up to today."""
    pending_in, pending_out = flows["points_pending_in"], flows["points_pending_out"]
    pending_at: dict[date, int] = {}
    running = pending
    day = today
    while day >= buckets[0][0]:
        pending_at[day] = running
        running -= pending_in.get(day, 0) - pending_out.get(day, 0)
        day -= timedelta(days=1)
    issued, spent = flows["points_issued"], flows["points_spent"]
    return [
        PointsRow(
            day=bucket[0],
            issued=sum(issued.get(day, 0) for day in bucket),
            spent=sum(spent.get(day, 0) for day in bucket),
            pending=pending_at[bucket[-1]],
        )
        for bucket in buckets
    ]


def backlog(session: Session, now: datetime, age_edges: Sequence[int]) -> Backlog:
    """Open and claimed flags, how many are overdue, and their ages, bucketed
    at ``age_edges`` days (e.g. 1, 3, 7, 14: under 1 day, 1-3 days, ...)."""
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
    rows = session.execute(
        select(
            Flag.state,
            bucket,
            func.count(),
            func.sum(case((Flag.due_at < now, 1), else_=0)),
            func.min(Flag.created_at),
        )
        .where(Flag.state.in_([FlagState.OPEN, FlagState.CLAIMED]))
        .group_by(Flag.state, bucket)
    ).all()
    by_state: dict[FlagState, int] = defaultdict(int)
    per_bucket: dict[int, int] = defaultdict(int)
    for state, index, count, _overdue, _oldest in rows:
        by_state[state] += count
        per_bucket[index] += count
    oldest_at = min((row[4] for row in rows), default=None)
    return Backlog(
        open=by_state[FlagState.OPEN],
        claimed=by_state[FlagState.CLAIMED],
        overdue=sum(int(row[3] or 0) for row in rows),
        oldest=now - oldest_at if oldest_at is not None else None,
        by_age=[
            (label, per_bucket[index]) for index, label in enumerate(_age_labels(edges))
        ],
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
    waiting = (JobState.QUEUED, JobState.RUNNING, JobState.RETRYING)
    failed_in_range = and_(
        JobRun.state == JobState.FAILED,
        JobRun.finished_at >= day_start(days.first),
        JobRun.finished_at < day_start(days.last + timedelta(days=1)),
    )
    by_state = dict(
        session.execute(
            select(JobRun.state, func.count())
            .where(JobRun.state.in_(waiting) | failed_in_range)
            .group_by(JobRun.state)
        ).all()
    )
    return JobFigures(
        queued=by_state.get(JobState.QUEUED, 0),
        running=by_state.get(JobState.RUNNING, 0),
        retrying=by_state.get(JobState.RETRYING, 0),
        failed_in_range=by_state.get(JobState.FAILED, 0),
    )


def build_dashboard(
    session: Session,
    days: DateRange,
    now: datetime,
    *,
    backlog_age_edges: Iterable[int],
    daily_max_days: int,
    active_days: int,
) -> Dashboard:
    """Every figure the dashboard shows for ``days`` (the last at most today).

    Per-day charts have one point a day, or a week (cut at the range's ends)
    for ranges longer than ``daily_max_days``."""
    today = now.astimezone(UTC).date()
    flows, through = daily_flows(session, monday_of(days.first), today, now)
    buckets = days.buckets(daily_max_days)
    contributions, reveals = flows["contributions"], flows["reveals"]
    activity = [
        ActivityRow(
            day=bucket[0],
            contributions=sum(contributions.get(day, 0) for day in bucket),
            reveals=sum(reveals.get(day, 0) for day in bucket),
        )
        for bucket in buckets
    ]
    pending = pending_now(session, through, flows)
    points = points_series(buckets, flows, pending, today)
    return Dashboard(
        range=days,
        weekly=len(buckets) != len(days.days),
        rolled_up_through=through,
        members=member_figures(session, days, flows["members_new"], now, active_days),
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
    outbox_total, outbox_failed = session.execute(
        select(
            func.count(),
            func.sum(case((OutboxMessage.state == OutboxState.FAILED, 1), else_=0)),
        ).select_from(OutboxMessage)
    ).one()
    return {
        "companies": _count(session, select(func.count()).select_from(Company)),
        "outbox_total": outbox_total,
        "outbox_failed": int(outbox_failed or 0),
    }


PRESET_DAYS = (7, 30, 90, 365)


def range_presets(today: date, max_days: int) -> list[tuple[str, DateRange]]:
    """The ranges offered as one-click links: the last 7, 30, 90, 365 days."""
    return [
        (f"Last {days} days", DateRange(today - timedelta(days=days - 1), today))
        for days in PRESET_DAYS
        if days <= max_days
    ]
