"""Retention: a list's files and row data are deleted 30 days after upload
(``LIST_RETENTION_DAYS``), or earlier when a member deletes the list.

The list itself stays, with its counts, quote and invoice: what was billed
remains explainable, while the customer's data (the file, the output, the
rows with their names) is gone. Services only: they flush.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.lists import files
from portal.models import ListState, MatchList, MatchListChunk, MatchListRow

# A list whose job is running keeps its files until the job ends.
BUSY = (ListState.MATCHING, ListState.MERGING)


class ListBusy(ValueError):
    """The list's match or merge is running; it can be deleted once it ends."""


def delete_list_data(
    session: Session, match_list: MatchList, *, root: str | Path, now: datetime
) -> None:
    """Delete the list's files, rows and chunks; keep the list's summary.

    Raises ``ListBusy`` while its match or merge runs.
    """
    if match_list.state in BUSY:
        raise ListBusy(
            f"This list is {match_list.state.value}; delete it once that has ended."
        )
    session.execute(delete(MatchListRow).where(MatchListRow.list_id == match_list.id))
    session.execute(
        delete(MatchListChunk).where(MatchListChunk.list_id == match_list.id)
    )
    if match_list.state in (ListState.MAPPING, ListState.QUOTED, ListState.FAILED):
        # Without its file the list can no longer be matched or delivered.
        match_list.state = ListState.EXPIRED
    match_list.files_deleted_at = now
    session.flush()
    files.delete_files(files.list_folder(root, match_list.id))


def delete_expired_lists(
    session: Session, *, root: str | Path, now: datetime, retention_days: int
) -> int:
    """Delete the data of every list uploaded more than ``retention_days``
    ago (busy lists wait for the next run); returns how many."""
    cutoff = now - timedelta(days=retention_days)
    due = session.scalars(
        select(MatchList).where(
            MatchList.created_at < cutoff,
            MatchList.files_deleted_at.is_(None),
            MatchList.state.not_in(BUSY),
        )
    ).all()
    for match_list in due:
        delete_list_data(session, match_list, root=root, now=now)
    return len(due)
