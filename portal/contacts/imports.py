"""Bulk contribution: a member's CSV, processed row by row by a background
job with the same checks as the form, and a per-row report.

Each row's contact and its report line are written in one savepoint, and rows
already in the report are skipped, so a job that dies half way and is retried
finishes the file without adding anybody twice.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import queue
from portal.contactfields import (
    CONTACT_FIELDS,
    CONTACT_HEADER_ALIASES,
    missing_contact_headings,
)
from portal.contacts import services
from portal.csvfiles import CsvRejected, read_csv
from portal.models import (
    ContributionFile,
    ContributionRow,
    FileState,
    Member,
    RevisionSource,
    RowOutcome,
)
from portal.moderation.flags import FlagRules
from portal.points.services import Rules

REPORT_HEADER = ("row", "outcome", "reason", "contact_id", *CONTACT_FIELDS)
# A batch ends after this many rows or seconds, whichever comes first: each
# commit frees the database for other writers (SQLite has one write lock).
COMMIT_EVERY = 100
COMMIT_SECONDS = 0.25
FINISHED = (FileState.COMPLETED, FileState.PENDING_REVIEW, FileState.REJECTED)
REPORT_CELL_CHARS = 500
OUTCOME_FOR_STATUS = {
    "accepted": RowOutcome.ACCEPTED,
    "held": RowOutcome.HELD,
    "updated": RowOutcome.UPDATED,
    "unchanged": RowOutcome.DUPLICATE,
    "needs_decision": RowOutcome.DUPLICATE,
    "proposed": RowOutcome.HELD,
}


class UploadRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def accept_upload(
    session: Session,
    member: Member,
    *,
    filename: str,
    content: bytes,
    attestation: str,
    max_bytes: int,
    ip_hash: str | None = None,
) -> ContributionFile:
    """Store the upload and queue its processing (enqueued on commit).

    Raises ``UploadRefused`` for an empty or oversized file; everything else
    about its contents is the job's to judge, row by row."""
    if not content:
        raise UploadRefused("The file is empty.")
    if len(content) > max_bytes:
        raise UploadRefused(
            f"The file is larger than {max_bytes // (1024 * 1024)} MB. Split it "
            "into smaller files."
        )
    contribution = ContributionFile(
        member_id=member.id,
        filename=filename[-255:],
        content=content,
        attestation=attestation,
        ip_hash=ip_hash,
        state=FileState.IN_PROGRESS,
    )
    session.add(contribution)
    session.flush()
    run = queue.start_job(
        "process_contribution_file", subject=contribution, created_by=member
    )
    contribution.job_run_id = run.id
    session.flush()
    return contribution


def _row_result(outcome: services.Outcome) -> tuple[RowOutcome, str | None]:
    if outcome.status == "needs_decision":
        best = outcome.candidates[0]
        return RowOutcome.DUPLICATE, (
            f"Probably {best.first_name} {best.last_name} ({best.masked_email}), "
            "already in Tessera; not added. If this is a different person, add "
            "them with the form."
        )
    if outcome.status == "unchanged":
        return RowOutcome.DUPLICATE, "Already in Tessera with these details."
    if outcome.status == "proposed":
        return RowOutcome.HELD, (
            "Held for a moderator: Tessera will not apply these details without "
            "a review."
        )
    if outcome.status == "held":
        return RowOutcome.HELD, (
            "Held for a moderator: the email domain does not match the company."
        )
    if outcome.status == "updated":
        return RowOutcome.UPDATED, "Updated the contact Tessera already had."
    return OUTCOME_FOR_STATUS[outcome.status], None


def process_file(
    session: Session,
    contribution: ContributionFile,
    *,
    rules: Rules,
    flag_rules: FlagRules,
    suppression_key: str,
    max_rows: int,
    now: Callable[[], datetime],
    progress: Callable[[int, str], None],
) -> dict[str, int]:
    """Run every row of the file through ``services.contribute``; commits in
    batches so progress shows and a retry resumes. Returns the counts; a file
    already finished is left as it is."""
    if contribution.state in FINISHED:
        return contribution.counts
    contribution.state = FileState.IN_PROGRESS
    contribution.message = None
    session.commit()
    try:
        parsed = read_csv(
            contribution.content or b"",
            fields=CONTACT_FIELDS,
            aliases=CONTACT_HEADER_ALIASES,
            required=missing_contact_headings,
            max_rows=max_rows,
        )
        rows = list(parsed.iter_rows())
    except CsvRejected as rejected:
        contribution.state = FileState.REJECTED
        contribution.message = rejected.message
        contribution.finished_at = now()
        session.commit()
        return {}
    contribution.row_count = len(rows)
    done = set(
        session.scalars(
            select(ContributionRow.row_number).where(
                ContributionRow.file_id == contribution.id
            )
        )
    )
    batch_started = time.monotonic()
    for index, row in enumerate(rows, start=1):
        if row.number not in done:
            _process_row(
                session, contribution, row, rules, flag_rules, suppression_key, now()
            )
        if (
            index % COMMIT_EVERY == 0
            or index == len(rows)
            or time.monotonic() - batch_started >= COMMIT_SECONDS
        ):
            session.commit()
            progress(int(index * 100 / len(rows)), f"{index:,} of {len(rows):,} rows")
            batch_started = time.monotonic()
    counts = Counter(
        outcome.value
        for outcome in session.scalars(
            select(ContributionRow.outcome).where(
                ContributionRow.file_id == contribution.id
            )
        )
    )
    contribution.counts = {o.value: counts.get(o.value, 0) for o in RowOutcome}
    contribution.state = (
        FileState.PENDING_REVIEW if counts.get("held") else FileState.COMPLETED
    )
    # The report keeps each row's values; the raw upload is no longer needed.
    contribution.content = None
    contribution.finished_at = now()
    session.commit()
    return contribution.counts


def _process_row(
    session, contribution, row, rules, flag_rules, suppression_key, now
) -> None:
    # A report needs enough of each cell to find the row, not a 100 KB blob.
    values = {name: value[:REPORT_CELL_CHARS] for name, value in row.values.items()}
    result = ContributionRow(
        file_id=contribution.id, row_number=row.number, values=values
    )
    if row.problem:
        result.outcome, result.reason = RowOutcome.REFUSED, row.problem
        session.add(result)
        return
    try:
        with session.begin_nested():
            outcome = services.contribute(
                session,
                contribution.member_id,
                values,
                source=RevisionSource.CSV,
                attestation=contribution.attestation,
                rules=rules,
                flag_rules=flag_rules,
                suppression_key=suppression_key,
                now=now,
                contribution_file_id=contribution.id,
                ip_hash=contribution.ip_hash,
            )
            result.outcome, result.reason = _row_result(outcome)
            result.contact_id = outcome.contact.id if outcome.contact else None
            session.add(result)
            session.flush()
    except services.ContributionRefused as refused:
        result.outcome, result.reason = RowOutcome.REFUSED, refused.reason
        session.add(result)


def report_line(row: ContributionRow) -> list[object]:
    return [
        row.row_number,
        row.outcome.value,
        row.reason or "",
        row.contact_id or "",
        *(row.values.get(name, "") for name in CONTACT_FIELDS),
    ]
