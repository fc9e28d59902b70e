"""Receiving a list: the upload, the proposed column mapping and its
confirmation, which starts the match run.

Services only: they flush, the caller commits. A refused upload leaves no
row and no file behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import queue
from portal.contactfields import LIST_FIELDS, missing_list_headings
from portal.csvfiles import EMPTY_FILE, CsvRejected
from portal.lists import files
from portal.lists.pricing import ListRules
from portal.models import ListFormat, ListState, MatchList, Member

SAMPLE_ROWS = 3
SAMPLE_CHARS = 60
# What the mapping form offers besides the fields.
LEAVE_OUT = ""


class ListRefused(Exception):
    """The upload or mapping is refused; ``message`` says why and what to do.
    ``too_large`` marks an upload over the size limit (HTTP 413)."""

    def __init__(self, message: str, *, too_large: bool = False):
        super().__init__(message)
        self.message = message
        self.too_large = too_large


def accept_upload(
    session: Session,
    member: Member,
    *,
    filename: str,
    content: bytes,
    rules: ListRules,
    root: str | Path,
    now: datetime,
) -> MatchList:
    """Store an organisation member's file and read its heading row and row
    count; the list waits for its mapping to be confirmed.

    Raises ``ListRefused`` for a member without an organisation, an empty or
    oversized file, a file that is not CSV or xlsx, a file with headings only,
    too many rows, or unreadable CSV.
    """
    if member.organisation_id is None:
        raise ListRefused(
            "Lists belong to an organisation, and your account has none. Ask "
            "your organisation's admin to add you."
        )
    if not content:
        raise ListRefused(EMPTY_FILE)
    if len(content) > rules.max_bytes:
        raise ListRefused(
            f"The file is larger than {rules.max_bytes / (1024 * 1024):g} MB. Split "
            "it into smaller files and upload each.",
            too_large=True,
        )
    list_format = files.sniff_format(filename, content)
    match_list = MatchList(
        organisation_id=member.organisation_id,
        uploaded_by_id=member.id,
        filename=Path(filename).name[:255] or f"list.{list_format.value}",
        format=list_format,
        state=ListState.MAPPING,
        size_bytes=len(content),
        headings_signature="",
        created_at=now,
    )
    session.add(match_list)
    session.flush()
    folder = files.list_folder(root, match_list.id)
    try:
        original = files.store_upload(folder, list_format, content)
        source = files.rows_path(folder, list_format)
        if list_format == ListFormat.XLSX:
            files.xlsx_to_csv(original, source, max_rows=rules.max_rows)
        parsed = files.open_rows(source, max_rows=rules.max_rows)
    except CsvRejected as refused:
        files.delete_files(folder)
        raise ListRefused(refused.message) from refused
    except BaseException:
        files.delete_files(folder)
        raise
    match_list.headings = parsed.header.cells
    match_list.headings_signature = files.headings_signature(parsed.header.cells)
    match_list.row_count = parsed.row_count or 0
    session.flush()
    return match_list


@dataclass(frozen=True)
class ColumnChoice:
    index: int
    heading: str
    samples: list[str]
    proposed: str  # a field, or LEAVE_OUT


@dataclass(frozen=True)
class ProposedMapping:
    columns: list[ColumnChoice]
    # The earlier list whose confirmed mapping is proposed again, if any.
    reused_from: MatchList | None


def previous_mapping(session: Session, match_list: MatchList) -> MatchList | None:
    """The organisation's last list with the same headings and a confirmed
    mapping."""
    return session.scalar(
        select(MatchList)
        .where(
            MatchList.organisation_id == match_list.organisation_id,
            MatchList.headings_signature == match_list.headings_signature,
            MatchList.mapping_confirmed_at.is_not(None),
            MatchList.id != match_list.id,
        )
        .order_by(MatchList.mapping_confirmed_at.desc(), MatchList.id.desc())
        .limit(1)
    )


def propose_mapping(
    session: Session, match_list: MatchList, root: str | Path
) -> ProposedMapping:
    """Each column with a sample of its values and the field proposed for it:
    the confirmed mapping, else the organisation's last mapping for the same
    headings, else the headings read exactly and then fuzzily."""
    source = files.rows_path(files.list_folder(root, match_list.id), match_list.format)
    parsed = files.open_rows(source)
    samples: dict[int, list[str]] = {i: [] for i in range(len(parsed.header.cells))}
    for row in islice(parsed.iter_rows(), 50):
        for index, cell in enumerate(row.cells or []):
            bucket = samples.get(index)
            if bucket is not None and cell and len(bucket) < SAMPLE_ROWS:
                bucket.append(cell[:SAMPLE_CHARS])
    reused = None
    if match_list.mapping is not None:
        chosen = {int(i): f for i, f in match_list.mapping.items()}
    else:
        reused = previous_mapping(session, match_list)
        if reused is not None and reused.mapping is not None:
            chosen = {int(i): f for i, f in reused.mapping.items()}
        else:
            chosen = dict(parsed.header.columns)
    columns = [
        ColumnChoice(index, heading, samples[index], chosen.get(index, LEAVE_OUT))
        for index, heading in enumerate(parsed.header.cells)
    ]
    return ProposedMapping(columns, reused)


def confirm_mapping(
    session: Session,
    match_list: MatchList,
    choices: Mapping[int, str],
    *,
    member: Member,
    now: datetime,
) -> None:
    """Keep the member's mapping (column index -> field, LEAVE_OUT to skip)
    and start the match run (enqueued on commit).

    Raises ``ListRefused`` for a list not waiting for its mapping, an unknown
    column or field, a field chosen for two columns, or no name column.
    """
    if match_list.state != ListState.MAPPING:
        raise ListRefused(
            f"This list is {match_list.state.value}; its mapping can no longer change."
        )
    mapping: dict[int, str] = {}
    for index, wanted in sorted(choices.items()):
        if not 0 <= index < len(match_list.headings):
            raise ListRefused("That column is not in the file.")
        if wanted == LEAVE_OUT:
            continue
        if wanted not in LIST_FIELDS:
            raise ListRefused(f"'{wanted}' is not a field.")
        if wanted in mapping.values():
            headings = [
                match_list.headings[i] for i, f in mapping.items() if f == wanted
            ]
            raise ListRefused(
                f"Two columns are mapped to {wanted}: '{headings[0]}' and "
                f"'{match_list.headings[index]}'. Leave one of them out."
            )
        mapping[index] = wanted
    problem = missing_list_headings(set(mapping.values()))
    if problem:
        raise ListRefused(problem)
    match_list.mapping = {str(i): f for i, f in mapping.items()}
    match_list.mapping_confirmed_at = now
    start_matching(session, match_list, member=member)


def start_matching(
    session: Session, match_list: MatchList, *, member: Member | None
) -> None:
    """Queue a (new) match run for the list; enqueued on commit."""
    run = queue.start_job(
        "match_list", subject=match_list, created_by=member, session=session
    )
    match_list.state = ListState.MATCHING
    match_list.match_run_id = run.id
    match_list.message = ""
    session.flush()
