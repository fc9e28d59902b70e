"""A list file matched as a whole: mapping, matching and the output file.

``portal match`` runs this on a file for operators and benchmarks; the list
service's jobs use the same pieces. The output keeps the file's columns in
their order, fills our values into the compared fields of matched and moved
rows (adding a column for a compared field the file lacks), and appends
``tessera_status``, ``tessera_confidence`` and ``tessera_changes``. Every
cell goes out formula-escaped.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy.orm import Session

from portal.contactfields import (
    LIST_FIELDS,
    LIST_HEADER_ALIASES,
    missing_list_headings,
    split_full_name,
)
from portal.csvfiles import (
    CsvRejected,
    ParsedCsv,
    ParsedRow,
    iter_csv,
    normalise_heading,
    stream_csv,
)
from portal.matching.batch import (
    COMPARED_FIELDS,
    FieldStatus,
    ListRow,
    MatchStatus,
    RowMatch,
    match_rows,
)

STATUS_COLUMNS = ("tessera_status", "tessera_confidence", "tessera_changes")
REPORT_HEADER = (
    "row",
    "record_id",
    "status",
    "confidence",
    "contact_id",
    "reason",
    *(f"{name}_status" for name in COMPARED_FIELDS),
)
# What --map takes to leave a column unmapped.
UNMAPPED = "-"


@dataclass
class MatchSummary:
    """Counts of a finished run, and how long it took."""

    rows: int = 0
    statuses: Counter = field(default_factory=Counter)
    fields: dict[str, Counter] = field(
        default_factory=lambda: {name: Counter() for name in COMPARED_FIELDS}
    )
    seconds: float = 0.0
    # Processor time of this process: what rows/s means on a busy machine.
    cpu_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def rows_per_cpu_second(self) -> float:
        return self.rows / self.cpu_seconds if self.cpu_seconds else 0.0

    @property
    def match_rate(self) -> float:
        found = self.statuses[MatchStatus.MATCHED] + self.statuses[MatchStatus.MOVED]
        return found / self.rows if self.rows else 0.0

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "fields": {
                name: {str(k): v for k, v in sorted(counts.items())}
                for name, counts in self.fields.items()
            },
            "seconds": round(self.seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
        }


def open_list_file(
    source: str | os.PathLike[str], overrides: Mapping[str, str] | None = None
) -> ParsedCsv:
    """Read a list file's headings and map them: proposed (exactly, then
    fuzzily) and then ``overrides`` applied (heading text -> field, or
    ``UNMAPPED``), as a member confirms a mapping.

    Raises :class:`CsvRejected` for a file the CSV rules refuse, an override
    naming a heading the file lacks or a field that does not exist, and a
    mapping without any name column.
    """
    proposed = stream_csv(
        source,
        fields=LIST_FIELDS,
        aliases=LIST_HEADER_ALIASES,
        required=set(),
        max_rows=None,
        mapping="proposed",
    )
    columns = dict(proposed.header.columns)
    by_heading = {
        normalise_heading(text): index
        for index, text in reversed(list(enumerate(proposed.header.cells)))
    }
    for heading, wanted in (overrides or {}).items():
        index = by_heading.get(normalise_heading(heading))
        if index is None:
            raise CsvRejected(
                f"--map {heading}={wanted}: the file has no column headed "
                f"'{heading}'. Its headings are: {', '.join(proposed.header.cells)}."
            )
        if wanted == UNMAPPED:
            columns.pop(index, None)
            continue
        if wanted not in LIST_FIELDS:
            raise CsvRejected(
                f"--map {heading}={wanted}: '{wanted}' is not a field. Use one of "
                f"{', '.join(LIST_FIELDS)}, or {UNMAPPED} to leave it out."
            )
        columns = {i: f for i, f in columns.items() if f != wanted}
        columns[index] = wanted
    return stream_csv(
        source,
        fields=LIST_FIELDS,
        aliases=LIST_HEADER_ALIASES,
        required=missing_list_headings,
        max_rows=None,
        mapping=columns,
        keep_cells=True,
    )


def list_row(row: ParsedRow) -> ListRow:
    """What a parsed row says, a full name split when there is no first and
    last name."""
    values = row.values
    first, last = values.get("first_name", ""), values.get("last_name", "")
    if not (first or last) and values.get("full_name"):
        first, last = split_full_name(values["full_name"])
    return ListRow(
        first_name=first,
        last_name=last,
        company=values.get("company", ""),
        company_domain=values.get("company_domain", ""),
        email=values.get("email", ""),
        phone=values.get("phone", ""),
        title=values.get("title", ""),
        city=values.get("city", ""),
        country=values.get("country", ""),
        problem=row.problem,
    )


def describe_changes(changes: list[tuple[str, str, str]]) -> str:
    """ "email: a@x.com -> b@x.com; phone: (none) -> +4420..." """
    return "; ".join(
        f"{name}: {old or '(none)'} -> {new or '(none)'}" for name, old, new in changes
    )


@dataclass
class MatchedFile:
    """A matched file: its rows, their outcomes and the summary."""

    parsed: ParsedCsv
    rows: list[ParsedRow]
    theirs: list[ListRow]
    results: list[RowMatch]
    summary: MatchSummary

    def output_header(self) -> list[str]:
        mapped = set(self.parsed.header.columns.values())
        added = [name for name in COMPARED_FIELDS if name not in mapped]
        return [*self.parsed.header.cells, *added, *STATUS_COLUMNS]

    def output_rows(self) -> Iterator[list[object]]:
        """Their cells, our values filled in for matched and moved rows, then
        the added fields and the status columns."""
        width = len(self.parsed.header.cells)
        column_of = {name: i for i, name in self.parsed.header.columns.items()}
        added = [name for name in COMPARED_FIELDS if name not in column_of]
        for row, theirs, result in zip(
            self.rows, self.theirs, self.results, strict=True
        ):
            cells = list(row.cells or [])[:width]
            cells += [""] * (width - len(cells))
            extra = [""] * len(added)
            fill = result.status in (MatchStatus.MATCHED, MatchStatus.MOVED)
            if fill:
                for name in COMPARED_FIELDS:
                    ours = result.ours.get(name, "")
                    if not ours:
                        continue
                    if name in column_of:
                        cells[column_of[name]] = ours
                    else:
                        extra[added.index(name)] = ours
            changes = describe_changes(result.changes(theirs)) if fill else ""
            yield [
                *cells,
                *extra,
                str(result.status),
                result.confidence,
                changes or result.reason,
            ]

    def report_rows(self) -> Iterator[list[object]]:
        for row, result in zip(self.rows, self.results, strict=True):
            yield [
                row.number,
                row.values.get("record_id", ""),
                str(result.status),
                result.confidence,
                result.contact_id or "",
                result.reason,
                *(str(result.fields.get(name, "")) for name in COMPARED_FIELDS),
            ]

    def write(self, out: TextIO) -> None:
        for chunk in iter_csv(self.output_header(), self.output_rows()):
            out.write(chunk)

    def write_report(self, out: TextIO) -> None:
        for chunk in iter_csv(REPORT_HEADER, self.report_rows()):
            out.write(chunk)


def match_file(session: Session, parsed: ParsedCsv, *, chunk_rows: int) -> MatchedFile:
    """Match every row of an opened list file (see :func:`open_list_file`).

    Raises :class:`CsvRejected` for broken quoting found while reading.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    rows = list(parsed.iter_rows())
    theirs = [list_row(row) for row in rows]
    results = match_rows(session, theirs, chunk_rows=chunk_rows)
    summary = MatchSummary(rows=len(rows))
    for result in results:
        summary.statuses[result.status] += 1
        for name, status in result.fields.items():
            summary.fields[name][FieldStatus(status)] += 1
    summary.seconds = time.perf_counter() - started
    summary.cpu_seconds = time.process_time() - cpu_started
    return MatchedFile(parsed, rows, theirs, results, summary)
