"""The match run of a list: chunks that any worker takes, and the summary and
quote once every chunk is done.

The run's parent job cuts the rows into chunks of ``LIST_CHUNK_ROWS`` and
queues one chunk job each, then works through the chunks itself as well:
every worker (the parent included) claims a chunk with one conditional
update, so each chunk is matched by one worker at a time, and with one
worker the parent simply does them all. A chunk's rows are replaced (not
appended) in the same transaction that marks it done, so a chunk matched
twice writes the same rows. A claim whose run stopped answering is taken
over after ``LIST_CHUNK_STALE_SECONDS``; a chunk that failed is released and
matched again alone, the done ones are kept. When no chunk is left the
parent writes the summary and the quote, once (a conditional state change).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from portal import queue
from portal.csvfiles import ParsedRow
from portal.lists import files, pooling, schedules
from portal.lists.matchfile import list_row
from portal.lists.pricing import ListRules, price_list
from portal.matching.batch import COMPARED_FIELDS, MatchStatus, RowMatch, match_rows
from portal.models import (
    ChunkState,
    JobRun,
    ListState,
    MatchList,
    MatchListChunk,
    MatchListRow,
    Organisation,
)
from portal.moderation.flags import FlagRules

# How long the parent waits between looks at chunks other workers hold.
WAIT_SECONDS = 0.5
RECORD_ID_CHARS = 255
REASON_CHARS = 300

Tick = Callable[[int, str], None]


def confirmed_mapping(match_list: MatchList) -> dict[int, str]:
    return {int(i): f for i, f in (match_list.mapping or {}).items()}


def open_confirmed(match_list: MatchList, root: str | Path):
    """The list's rows read with its confirmed mapping."""
    folder = files.list_folder(root, match_list.id)
    return files.open_rows(
        files.rows_path(folder, match_list.format),
        mapping=confirmed_mapping(match_list),
    )


def plan_chunks(
    session: Session, match_list: MatchList, run: JobRun, rules: ListRules
) -> list[MatchListChunk]:
    """The run's chunks, cut on its first attempt (with a chunk job each,
    enqueued on commit) and found again on a retry."""
    chunks = session.scalars(
        select(MatchListChunk)
        .where(
            MatchListChunk.list_id == match_list.id,
            MatchListChunk.match_run_id == run.id,
        )
        .order_by(MatchListChunk.start)
    ).all()
    if chunks:
        return list(chunks)
    step = max(1, rules.chunk_rows)
    chunks = [
        MatchListChunk(
            list_id=match_list.id,
            match_run_id=run.id,
            start=start,
            stop=min(start + step, match_list.row_count),
        )
        for start in range(0, match_list.row_count, step)
    ]
    session.add_all(chunks)
    session.flush()
    # One chunk needs no second job: the parent takes it at once.
    if len(chunks) > 1:
        for chunk in chunks:
            queue.start_job(
                "match_list_chunk",
                params={"chunk_id": chunk.id},
                subject=match_list,
                session=session,
            )
    return chunks


def claim_chunk(
    session: Session, chunk_id: int, run_id: int, now: datetime, rules: ListRules
) -> bool:
    """Take a chunk for run ``run_id``: one that nobody holds, that this run
    held before (a retry), or whose holder has been silent too long. Commits."""
    stale = now - timedelta(seconds=rules.chunk_stale_seconds)
    taken = session.execute(
        update(MatchListChunk)
        .where(
            MatchListChunk.id == chunk_id,
            or_(
                MatchListChunk.state == ChunkState.PENDING,
                (MatchListChunk.state == ChunkState.RUNNING)
                & (
                    (MatchListChunk.claimed_by_run_id == run_id)
                    | (MatchListChunk.claimed_at < stale)
                ),
            ),
        )
        .values(
            state=ChunkState.RUNNING,
            claimed_by_run_id=run_id,
            claimed_at=now,
            attempts=MatchListChunk.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return bool(taken)


def release_chunk(session: Session, chunk_id: int, run_id: int) -> None:
    """Give a chunk back after a failure, so that it is matched again."""
    session.rollback()
    session.execute(
        update(MatchListChunk)
        .where(
            MatchListChunk.id == chunk_id,
            MatchListChunk.claimed_by_run_id == run_id,
            MatchListChunk.state == ChunkState.RUNNING,
        )
        .values(state=ChunkState.PENDING, claimed_by_run_id=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _row_values(row: ParsedRow, result: RowMatch, position: int, list_id: int):
    fields = {name: str(status) for name, status in result.fields.items()}
    return {
        "list_id": list_id,
        "position": position,
        "row_number": row.number,
        "record_id": row.values.get("record_id", "")[:RECORD_ID_CHARS],
        "values": {k: v for k, v in row.values.items() if v},
        "status": str(result.status),
        "confidence": result.confidence,
        "reason": result.reason[:REASON_CHARS],
        "contact_id": result.contact_id,
        "fields": fields,
        "ours": {k: v for k, v in result.ours.items() if v},
        "field_key": ",".join(f"{k}:{v}" for k, v in sorted(fields.items())),
        "disputed_at": None,
    }


def match_chunk(
    session: Session,
    match_list: MatchList,
    chunk: MatchListChunk,
    run_id: int,
    root: str | Path,
    match_chunk_rows: int,
) -> bool:
    """Match a claimed chunk's rows and replace its rows' outcomes; the
    chunk is marked done in the same transaction. Returns False (writing
    nothing) when another run took the chunk over meanwhile. Commits."""
    parsed = open_confirmed(match_list, root)
    rows = list(islice(parsed.iter_rows(), chunk.start, chunk.stop))
    results = match_rows(
        session, [list_row(row) for row in rows], chunk_rows=match_chunk_rows
    )
    done = session.execute(
        update(MatchListChunk)
        .where(
            MatchListChunk.id == chunk.id,
            MatchListChunk.claimed_by_run_id == run_id,
            MatchListChunk.state == ChunkState.RUNNING,
        )
        .values(state=ChunkState.DONE)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        session.rollback()
        return False
    session.execute(
        delete(MatchListRow).where(
            MatchListRow.list_id == match_list.id,
            MatchListRow.position >= chunk.start,
            MatchListRow.position < chunk.stop,
        )
    )
    values = [
        _row_values(row, result, chunk.start + offset, match_list.id)
        for offset, (row, result) in enumerate(zip(rows, results, strict=True))
    ]
    if values:
        session.execute(insert(MatchListRow), values)
    session.commit()
    return True


def run_chunk(
    session: Session,
    match_list: MatchList,
    chunk_id: int,
    run_id: int,
    *,
    root: str | Path,
    rules: ListRules,
    match_chunk_rows: int,
    now: Callable[[], datetime],
) -> bool:
    """Claim and match one chunk; False when it was not ours to take. A
    failure gives the chunk back and raises."""
    if not claim_chunk(session, chunk_id, run_id, now(), rules):
        return False
    chunk = session.get(MatchListChunk, chunk_id, populate_existing=True)
    try:
        return match_chunk(session, match_list, chunk, run_id, root, match_chunk_rows)
    except BaseException:
        release_chunk(session, chunk_id, run_id)
        raise


def run_match(
    session: Session,
    match_list: MatchList,
    run: JobRun,
    *,
    root: str | Path,
    rules: ListRules,
    match_chunk_rows: int,
    now: Callable[[], datetime],
    progress: Tick,
    suppression_key: str,
    flag_rules: FlagRules,
    public_url: str,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """The parent of a match run: plan the chunks, match every chunk nobody
    else holds, wait for the others, then summarise and quote the list (and,
    for an organisation that opted in to pooling, propose its updates)."""
    if match_list.match_run_id != run.id or match_list.state not in (
        ListState.MATCHING,
        ListState.FAILED,  # the run retried from the admin jobs page
    ):
        return {"list_id": match_list.id, "skipped": True}
    match_list.state = ListState.MATCHING
    match_list.message = ""
    chunks = plan_chunks(session, match_list, run, rules)
    session.commit()
    chunk_ids = [chunk.id for chunk in chunks]
    total = match_list.row_count or 1
    while True:
        for chunk_id in chunk_ids:
            run_chunk(
                session,
                match_list,
                chunk_id,
                run.id,
                root=root,
                rules=rules,
                match_chunk_rows=match_chunk_rows,
                now=now,
            )
            _tick(session, match_list, total, progress)
        left = session.scalar(
            select(func.count(MatchListChunk.id)).where(
                MatchListChunk.id.in_(chunk_ids),
                MatchListChunk.state != ChunkState.DONE,
            )
        )
        session.rollback()
        if not left:
            break
        sleep(WAIT_SECONDS)
        _tick(session, match_list, total, progress)
    finished_at = now()
    summary = finish_matching(session, match_list, run, rules=rules, now=finished_at)
    if summary["finished_here"]:
        summary["proposals"] = pooling.propose_updates(
            session,
            match_list,
            suppression_key=suppression_key,
            rules=flag_rules,
            now=finished_at,
        )
        if match_list.refresh_of_id is not None:
            summary["accepted_within_cap"] = schedules.settle_refresh(
                session, match_list, now=finished_at, public_url=public_url
            )
    session.commit()
    return summary


def _tick(session: Session, match_list: MatchList, total: int, progress: Tick):
    matched = session.scalar(
        select(
            func.coalesce(func.sum(MatchListChunk.stop - MatchListChunk.start), 0)
        ).where(
            MatchListChunk.list_id == match_list.id,
            MatchListChunk.match_run_id == match_list.match_run_id,
            MatchListChunk.state == ChunkState.DONE,
        )
    )
    session.rollback()
    progress(int(95 * matched / total), f"Matched {matched:,} of {total:,} rows")


def list_summary(session: Session, list_id: int) -> tuple[dict, list]:
    """Counts per status and per field status, and (status, fields) per row."""
    statuses: Counter = Counter()
    per_field = {name: Counter() for name in COMPARED_FIELDS}
    outcomes = []
    for status, fields in session.execute(
        select(MatchListRow.status, MatchListRow.fields).where(
            MatchListRow.list_id == list_id
        )
    ):
        statuses[status] += 1
        for name, value in (fields or {}).items():
            per_field[name][value] += 1
        outcomes.append((status, fields or {}))
    summary = {
        "statuses": {s.value: statuses[s.value] for s in MatchStatus},
        "fields": {name: dict(counts) for name, counts in per_field.items()},
    }
    return summary, outcomes


def finish_matching(
    session: Session,
    match_list: MatchList,
    run: JobRun,
    *,
    rules: ListRules,
    now: datetime,
) -> dict:
    """Write the summary and the quote, and move the list to ``quoted``
    (once: a second finisher finds the state moved and changes nothing)."""
    summary, outcomes = list_summary(session, match_list.id)
    organisation = session.get(Organisation, match_list.organisation_id)
    quote = price_list(outcomes, currency=organisation.currency, rules=rules, now=now)
    summary["per_field_changes"] = quote.per_field
    statuses = summary["statuses"]
    moved = session.execute(
        update(MatchList)
        .where(
            MatchList.id == match_list.id,
            MatchList.state == ListState.MATCHING,
            MatchList.match_run_id == run.id,
        )
        .values(
            state=ListState.QUOTED,
            summary=summary,
            matched_rows=statuses["matched"] + statuses["moved"],
            delivered_records=quote.records,
            quote_lines=quote.lines,
            quote_total=quote.total,
            quote_currency=quote.currency,
            quoted_at=now,
            quote_expires_at=quote.expires_at,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(match_list)
    return {
        "list_id": match_list.id,
        "rows": len(outcomes),
        "matched": statuses["matched"] + statuses["moved"],
        "delivered_records": quote.records,
        "finished_here": bool(moved),
    }


def fail_matching(session: Session, match_list: MatchList, message: str) -> None:
    """The run stopped: say so on the list (done chunks are kept for a retry)."""
    match_list.state = ListState.FAILED
    match_list.message = message[:500]
    session.flush()
