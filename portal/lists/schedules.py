"""Scheduled refreshes: a delivered list matched and delivered again, weekly
or monthly, within a price cap.

The schedule lives on the latest list of its chain. When it is due, the
``refresh_lists`` job makes a new list from that list's delivered file (their
columns with our values as delivered, without the ``tessera_*`` columns) and
the same mapping, and matches it; the new list takes the schedule over. Once
quoted, a quote at most the cap is accepted at once and delivered; a dearer
one waits for an org admin. The organisation's admins are emailed either way.
Services only: they flush.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import mail
from portal.lists import delivery, files, upload
from portal.lists.matchfile import STATUS_COLUMNS
from portal.matching.batch import COMPARED_FIELDS
from portal.models import (
    ListState,
    MatchList,
    Member,
    RefreshInterval,
    Role,
)
from portal.models.accounts import MemberStatus


class ScheduleRefused(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def advance(when: datetime, interval: RefreshInterval) -> datetime:
    """A week later, or the same day of the next month (the last day when the
    next month is shorter)."""
    if interval == RefreshInterval.WEEKLY:
        return when + timedelta(days=7)
    year, month = (
        (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
    )
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def set_schedule(
    match_list: MatchList,
    *,
    interval: RefreshInterval | None,
    price_cap: Decimal | None,
    now: datetime,
) -> None:
    """Set (or, with no interval, stop) the list's refresh schedule.

    Raises ``ScheduleRefused`` for a list not delivered, without its files, or
    a negative cap.
    """
    if interval is None:
        match_list.refresh_interval = None
        match_list.next_refresh_at = None
        return
    if match_list.state != ListState.DELIVERED or match_list.files_deleted_at:
        raise ScheduleRefused("Only a delivered list with its files can be refreshed.")
    if price_cap is not None and price_cap < 0:
        raise ScheduleRefused("The price cap cannot be negative.")
    match_list.refresh_interval = interval
    match_list.refresh_price_cap = price_cap
    match_list.next_refresh_at = advance(now, interval)


def start_refresh(
    session: Session, previous: MatchList, *, root: str | Path, now: datetime
) -> MatchList:
    """A new list from ``previous``'s delivered file, mapped as before and
    queued for matching; it takes the schedule over."""
    matched = delivery.merged_file(session, previous, root)
    header = matched.output_header()[: -len(STATUS_COLUMNS)]
    width = len(header)
    mapping = {int(i): f for i, f in (previous.mapping or {}).items()}
    for index in range(len(previous.headings), width):
        if header[index] in COMPARED_FIELDS:
            mapping[index] = header[index]
    refreshed = MatchList(
        organisation_id=previous.organisation_id,
        uploaded_by_id=None,
        filename=previous.filename,
        format=previous.format,
        state=ListState.MAPPING,
        size_bytes=previous.size_bytes,
        row_count=previous.row_count,
        headings=list(header),
        headings_signature=files.headings_signature(header),
        mapping={str(i): f for i, f in mapping.items()},
        mapping_confirmed_at=now,
        created_at=now,
        refresh_of_id=previous.id,
        refresh_interval=previous.refresh_interval,
        refresh_price_cap=previous.refresh_price_cap,
        next_refresh_at=advance(now, previous.refresh_interval),
    )
    session.add(refreshed)
    session.flush()
    folder = files.list_folder(root, refreshed.id)
    files.write_source_csv(
        files.rows_path(folder, refreshed.format),
        header,
        (row[:width] for row in matched.output_rows()),
    )
    previous.refresh_interval = None
    previous.next_refresh_at = None
    upload.start_matching(session, refreshed, member=None)
    return refreshed


def refresh_due_lists(session: Session, *, root: str | Path, now: datetime) -> int:
    """Start the refresh of every list whose schedule is due; returns how many."""
    due = session.scalars(
        select(MatchList).where(
            MatchList.refresh_interval.is_not(None),
            MatchList.next_refresh_at <= now,
            MatchList.state == ListState.DELIVERED,
            MatchList.files_deleted_at.is_(None),
        )
    ).all()
    for previous in due:
        start_refresh(session, previous, root=root, now=now)
    return len(due)


def _org_admins(session: Session, organisation_id: int) -> list[Member]:
    return list(
        session.scalars(
            select(Member)
            .where(
                Member.organisation_id == organisation_id,
                Member.role == Role.ORG_ADMIN,
                Member.status == MemberStatus.ACTIVE,
            )
            .order_by(Member.id)
        )
    )


def settle_refresh(
    session: Session, match_list: MatchList, *, now: datetime, public_url: str
) -> bool:
    """After a refreshed list is quoted: accept it when the quote is within
    the cap, and email the organisation's admins. Returns whether it was
    accepted."""
    total = match_list.quote_total or Decimal("0.00")
    cap = match_list.refresh_price_cap
    accepted = cap is not None and total <= cap
    if accepted:
        delivery.accept_quote(session, match_list, member=None, now=now)
    link = f"{public_url}/lists/{match_list.id}"
    money = f"{total:,.2f} {match_list.quote_currency}"
    if accepted:
        subject = f"Your list {match_list.filename} was refreshed"
        body = (
            f"The scheduled refresh of {match_list.filename} found "
            f"{match_list.delivered_records:,} records to update, for {money}, "
            "within your price cap. It was accepted and is being delivered; "
            f"download it here:\n\n{link}\n"
        )
    else:
        subject = f"Your refreshed list {match_list.filename} waits for you"
        limit = f"{cap:,.2f}" if cap is not None else "no cap"
        body = (
            f"The scheduled refresh of {match_list.filename} found "
            f"{match_list.delivered_records:,} records to update, for {money}: more "
            f"than your price cap ({limit}). An org admin can accept the quote "
            f"here:\n\n{link}\n"
        )
    for admin in _org_admins(session, match_list.organisation_id):
        mail.send_email(
            admin.email, subject, body, kind="list_refresh", session=session
        )
    return accepted
