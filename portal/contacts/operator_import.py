"""The operator's trusted bulk load: ``portal contacts import FILE``.

A CSV of up to millions of contacts goes straight into the pool: no points, no
owner, one revision per new contact with the source "operator import". Every
row gets the checks a member's contribution gets (``clean_contact``), and
suppressed people are refused with the same message. What differs from a
member's upload is only what the operator is trusted with: a known email is
skipped as a duplicate rather than applied as an update, and there is no fuzzy
name matching or daily cap.

Companies are found by domain (the row's company_domain, else its email's
domain; a company's own domain or an alias) and created when unknown. A row
whose email domain is not one of its company's domains is loaded ``held``
with a moderation flag, as the form does.

Speed: the file is checked once through, then streamed, and the rows go in
``batch_size`` at a time, each batch one transaction: one round of ``IN``
queries for suppressions, known emails and unknown domains, then the rows
through the driver's bulk path (``portal.dialects``). Companies found stay in a
dict for the whole run. ``clean_contact`` is most of the work; with
``workers`` it runs in other processes, a batch ahead of the writes. A crash
loses at most the batch in flight, and running the file again skips what is
already loaded, because a known email is a duplicate.
"""

from __future__ import annotations

import json
import os
import sys
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from typing import NamedTuple

from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from portal.contactfields import (
    CONTACT_FIELDS,
    CONTACT_HEADER_ALIASES,
    missing_contact_headings,
)
from portal.contacts.services import (
    PROVENANCE_FIELDS,
    CleanContact,
    ContributionRefused,
    clean_contact,
)
from portal.csvfiles import ParsedCsv, ParsedRow, stream_csv
from portal.dialects import BulkWriter, bulk_writer, in_values, insert_for
from portal.models import (
    Company,
    CompanyDomain,
    Contact,
    ContactState,
    FlagKind,
    FlagSource,
    Revision,
    RevisionKind,
    RevisionSource,
    RowOutcome,
    SuppressionEntry,
)
from portal.moderation.flags import FlagRules, new_flag_values
from portal.privacy.notices import NOTICE_COLUMNS, notice_rows
from portal.suppression import SUPPRESSED_MESSAGE, email_hashes, name_hash
from portal.textfold import normalise_company_name

BATCH_SIZE = 20_000
# A batch whose rows were taken meanwhile by a concurrent writer is re-checked.
_ATTEMPTS = 3

# The same columns as the report of a member's CSV upload.
REPORT_HEADER = ("row", "outcome", "reason", "contact_id", *CONTACT_FIELDS)
HELD_REASON = (
    "Loaded, but held for a moderator: the email domain is not one of the "
    "company's domains."
)
KNOWN_EMAIL_REASON = "Already in Tessera: a contact has this email. Not loaded."
REPEATED_EMAIL_REASON = "The same email is on an earlier row of this file. Not loaded."

_CONTACT_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "title",
    "seniority",
    "department",
    "company_id",
    "email",
    "phone",
    "city",
    "country",
    "state",
    "last_confirmed_at",
    "created_at",
    "updated_at",
)
_REVISION_COLUMNS = ("contact_id", "kind", "source", "fields", "created_at")
_FLAG_COLUMNS = (
    "kind",
    "source",
    "state",
    "contact_id",
    "revision_id",
    "details",
    "priority",
    "due_at",
    "created_at",
)


@dataclass
class ImportSummary:
    """Counts so far. ``loaded`` (active), ``held``, ``duplicate`` and
    ``refused`` add up to ``rows``; ``total_rows`` is the file's row count."""

    total_rows: int
    rows: int = 0
    loaded: int = 0
    held: int = 0
    duplicate: int = 0
    refused: int = 0
    companies_created: int = 0
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {
            "rows": self.rows,
            "loaded": self.loaded,
            "held": self.held,
            "duplicate": self.duplicate,
            "refused": self.refused,
            "companies_created": self.companies_created,
            "seconds": round(self.seconds, 1),
        }


def progress_line(summary: ImportSummary) -> str:
    """One line of progress for the operator's terminal."""
    share = summary.rows * 100 // summary.total_rows if summary.total_rows else 100
    return (
        f"  {summary.rows:>9,} of {summary.total_rows:,} rows ({share}%): "
        f"{summary.loaded:,} loaded, {summary.held:,} held, "
        f"{summary.duplicate:,} duplicate, {summary.refused:,} refused; "
        f"{summary.rows_per_second:,.0f} rows/s"
    )


def summary_line(summary: ImportSummary) -> str:
    """The final line: what became of every row, and how fast."""
    return (
        f"Read {summary.rows:,} rows: {summary.loaded:,} loaded, {summary.held:,} "
        f"loaded but held for a moderator, {summary.duplicate:,} duplicate, "
        f"{summary.refused:,} refused; {summary.companies_created:,} new "
        f"companies. {summary.seconds:.1f} s, {summary.rows_per_second:,.0f} rows/s."
    )


@dataclass(frozen=True, slots=True)
class ReportRow:
    """A row that was not loaded as an active contact, and why."""

    row: int
    outcome: RowOutcome
    reason: str
    contact_id: int | None
    values: dict[str, str]

    def cells(self) -> tuple[object, ...]:
        """The row's cells in ``REPORT_HEADER`` order."""
        return (
            self.row,
            self.outcome.value,
            self.reason,
            self.contact_id,
            *(self.values.get(name, "") for name in CONTACT_FIELDS),
        )


class _Company(NamedTuple):
    id: int
    name: str
    domain: str


class _Candidate(NamedTuple):
    """A row that passed ``clean_contact``, with the domain naming its company."""

    row: ParsedRow
    clean: CleanContact
    email_domain: str
    company_domain: str


def open_import_file(path: str | os.PathLike[str]) -> ParsedCsv:
    """Check a whole import file before anything is loaded from it.

    Reads it once through (encoding, headings, quoting, row count) without
    keeping it in memory. Raises ``CsvRejected`` for a file that is empty, not
    text, missing a required heading or broken in its quoting, and ``OSError``
    for one that cannot be read.
    """
    return stream_csv(
        path,
        fields=CONTACT_FIELDS,
        aliases=CONTACT_HEADER_ALIASES,
        required=missing_contact_headings,
        max_rows=sys.maxsize,
    )


def default_workers(row_count: int, batch_size: int = BATCH_SIZE) -> int:
    """Check processes worth starting for a file: one per CPU when the file
    has several batches and there is more than one CPU, else none."""
    cpus = os.cpu_count() or 1
    return cpus if cpus > 1 and row_count > 2 * batch_size else 0


def import_contacts(
    parsed: ParsedCsv,
    engine: Engine,
    *,
    suppression_key: str,
    now: datetime,
    summary: ImportSummary | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = 0,
    progress: Callable[[ImportSummary], None] | None = None,
    flag_rules: FlagRules | None = None,
) -> Iterator[ReportRow]:
    """Load the rows of ``parsed`` as pool contacts; yield every row that did not
    become an active contact (refused, duplicate, or loaded but held).

    Lazy: the import advances as the caller iterates, and it is complete when
    the iterator is exhausted. Each batch of ``batch_size`` rows is committed
    on a connection of its own from ``engine`` before its rows are yielded;
    ``summary`` (pass one in to read the counts) is updated and ``progress``
    called after each commit. Contacts are ``active`` (or ``held``), owned by
    nobody, confirmed at ``now``; each has one revision with the source
    "operator import" and no member. No ledger entries are written.

    ``workers`` > 0 runs the row checks (``clean_contact``, most of the work)
    in that many processes, a batch ahead of the writes; 0 runs them here.

    Raises ``CsvRejected`` if the file changed since ``open_import_file``
    checked it, and database errors as they come; committed batches stay.
    """
    summary = summary or ImportSummary(total_rows=parsed.row_count or 0)
    if engine.dialect.name == "sqlite":
        # The batch's checks and inserts need the write lock from the start.
        engine = engine.execution_options(sqlite_begin_immediate=True)
    batches = _batches(parsed.iter_rows(), batch_size)
    with engine.connect() as conn, _checked(batches, workers) as checked_batches:
        loader = _BatchLoader(conn, suppression_key, now, flag_rules or FlagRules())
        # Rows taken by a concurrent writer fail the bulk insert in the driver,
        # before SQLAlchemy could wrap the error.
        taken = (IntegrityError, conn.dialect.loaded_dbapi.IntegrityError)
        for rows, checked in checked_batches:
            report, candidates = _sort_checked(rows, checked)
            for attempt in range(1, _ATTEMPTS + 1):
                try:
                    with conn.begin():
                        result = loader.load(candidates)
                    break
                except taken:
                    if attempt == _ATTEMPTS:
                        raise
            loader.committed(result)
            report.extend(result.report)
            report.sort(key=lambda line: line.row)
            summary.rows += len(rows)
            summary.loaded += result.loaded
            summary.companies_created += len(result.created)
            for line in report:
                if line.outcome == RowOutcome.HELD:
                    summary.held += 1
                elif line.outcome == RowOutcome.DUPLICATE:
                    summary.duplicate += 1
                else:
                    summary.refused += 1
            if progress is not None:
                progress(summary)
            yield from report
    summary.finished = time.perf_counter()


def _batches(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    batch: list[ParsedRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def check_rows(rows: Sequence[ParsedRow]) -> list[CleanContact | str]:
    """The member form's checks on each row: its clean contact, or why it is
    refused (a problem the CSV reader found, or ``clean_contact``'s reason)."""
    checked: list[CleanContact | str] = []
    for row in rows:
        if row.problem:
            checked.append(row.problem)
            continue
        try:
            checked.append(clean_contact(row.values))
        except ContributionRefused as refusal:
            checked.append(refusal.reason)
    return checked


CheckedBatch = tuple[list[ParsedRow], list[CleanContact | str]]


@contextmanager
def _checked(
    batches: Iterator[list[ParsedRow]], workers: int
) -> Iterator[Iterator[CheckedBatch]]:
    """Each batch with its ``check_rows`` results, checked here or in a pool."""
    if workers <= 0:
        yield ((rows, check_rows(rows)) for rows in batches)
        return
    # Spawned, not forked: the parent holds database connections and threads.
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    try:
        yield _checked_in_pool(batches, pool, parts=2 * workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _checked_in_pool(
    batches: Iterator[list[ParsedRow]], pool: ProcessPoolExecutor, parts: int
) -> Iterator[CheckedBatch]:
    # The next batch is submitted before this one is handed over, so the pool
    # checks it while the caller writes this one.
    ahead: deque[tuple[list[ParsedRow], list[Future]]] = deque()
    for rows in batches:
        size = -(-len(rows) // parts)
        futures = [
            pool.submit(check_rows, rows[start : start + size])
            for start in range(0, len(rows), size)
        ]
        ahead.append((rows, futures))
        if len(ahead) > 1:
            yield _collect(*ahead.popleft())
    while ahead:
        yield _collect(*ahead.popleft())


def _collect(rows: list[ParsedRow], futures: list[Future]) -> CheckedBatch:
    return rows, [result for future in futures for result in future.result()]


def _sort_checked(
    rows: Sequence[ParsedRow], checked: Sequence[CleanContact | str]
) -> tuple[list[ReportRow], list[_Candidate]]:
    """Refused rows for the report, and the rest for the database look-ups."""
    refused: list[ReportRow] = []
    candidates: list[_Candidate] = []
    for row, clean in zip(rows, checked, strict=True):
        if isinstance(clean, str):
            refused.append(
                ReportRow(row.number, RowOutcome.REFUSED, clean, None, row.values)
            )
            continue
        email_domain = clean.email_domain
        candidates.append(
            _Candidate(row, clean, email_domain, clean.company_domain or email_domain)
        )
    return refused, candidates


@dataclass
class _BatchResult:
    report: list[ReportRow] = field(default_factory=list)
    loaded: int = 0
    # Companies first looked up, and those created, in this batch, by domain.
    found: dict[str, _Company] = field(default_factory=dict)
    created: dict[str, _Company] = field(default_factory=dict)
    # The first and last id of the contacts it created.
    ids: tuple[int, int] | None = None


class _BatchLoader:
    """Loads batches of checked rows on one connection, remembering companies.

    ``load`` runs inside the caller's transaction and changes nothing here;
    ``committed`` takes in what a committed batch found, so a batch that is
    rolled back and tried again starts from the same state.
    """

    def __init__(
        self,
        conn: Connection,
        suppression_key: str,
        now: datetime,
        flag_rules: FlagRules,
    ):
        self.conn = conn
        self.writer: BulkWriter = bulk_writer(conn)
        self.insert = insert_for(conn)
        self.suppression_key = suppression_key
        self.now = now
        self.stamp = self.writer.timestamp(int(now.timestamp()))
        # Every flag it opens is a hold at entry: the same columns throughout.
        self.flag = new_flag_values(
            FlagKind.DOMAIN_MISMATCH, FlagSource.ENTRY, now, flag_rules
        )
        self.flag_due_stamp = self.writer.timestamp(
            int(self.flag["due_at"].timestamp())
        )
        # Every domain (own or alias) of every company seen so far.
        self.companies: dict[str, _Company] = {}
        # (first id, last id) of the contacts each committed batch created.
        self.loaded_ranges: list[tuple[int, int]] = []

    # --- the batch --------------------------------------------------------

    def load(self, candidates: Sequence[_Candidate]) -> _BatchResult:
        """Sort out suppressed people and known emails, then write the rest
        with their revisions (and flags for the held ones)."""
        result = _BatchResult()
        domains = {c.company_domain for c in candidates}
        domains.update(c.email_domain for c in candidates)
        result.found = self._find_companies(domains)
        known = {**self.companies, **result.found}

        suppressed = self._suppressed(candidates, known)
        existing = self._existing_emails(
            [c.clean.email for c in candidates if c.row.number not in suppressed]
        )
        accepted: list[_Candidate] = []
        # Rows repeating an email accepted earlier in this batch.
        repeats: list[_Candidate] = []
        emails_seen: set[str] = set()
        for candidate in candidates:
            row, email = candidate.row, candidate.clean.email
            if row.number in suppressed:
                result.report.append(
                    ReportRow(
                        row.number,
                        RowOutcome.REFUSED,
                        SUPPRESSED_MESSAGE,
                        None,
                        row.values,
                    )
                )
            elif email in existing:
                contact_id = existing[email]
                repeated = self._loaded_here(contact_id)
                result.report.append(
                    ReportRow(
                        row.number,
                        RowOutcome.DUPLICATE,
                        REPEATED_EMAIL_REASON if repeated else KNOWN_EMAIL_REASON,
                        contact_id,
                        row.values,
                    )
                )
            elif email in emails_seen:
                repeats.append(candidate)
            else:
                emails_seen.add(email)
                accepted.append(candidate)
        if not accepted:
            return result

        result.created = self._create_companies(accepted, known)
        known.update(result.created)
        ids = self.writer.next_ids("contacts", len(accepted))
        result.ids = (ids[0], ids[-1])
        id_by_email = {c.clean.email: i for c, i in zip(accepted, ids, strict=True)}
        result.report.extend(
            ReportRow(
                c.row.number,
                RowOutcome.DUPLICATE,
                REPEATED_EMAIL_REASON,
                id_by_email[c.clean.email],
                c.row.values,
            )
            for c in repeats
        )
        contacts, revisions, held = self._rows(accepted, ids, known)
        self.writer.insert("contacts", _CONTACT_COLUMNS, contacts)
        self.writer.insert("contact_revisions", _REVISION_COLUMNS, revisions)
        # The Art 14 notices of the contacts that are active at once.
        held_ids = {contact_id for _, contact_id, _ in held}
        notices = notice_rows(
            (
                (contact_id, c.clean.email)
                for c, contact_id in zip(accepted, ids, strict=True)
                if contact_id not in held_ids
            ),
            "operator_import",
            self.stamp,
        )
        if notices:
            self.writer.insert("contact_notices", NOTICE_COLUMNS, notices)
        if held:
            self._flag_held(held)
            for candidate, contact_id, _company in held:
                result.report.append(
                    ReportRow(
                        candidate.row.number,
                        RowOutcome.HELD,
                        HELD_REASON,
                        contact_id,
                        candidate.row.values,
                    )
                )
        result.loaded = len(accepted) - len(held)
        return result

    def committed(self, result: _BatchResult) -> None:
        self.companies.update(result.found)
        self.companies.update(result.created)
        if result.ids is not None:
            self.loaded_ranges.append(result.ids)

    def _loaded_here(self, contact_id: int) -> bool:
        """Whether an earlier batch of this run created the contact (on
        PostgreSQL a concurrent writer's id may fall inside a batch's range,
        which only changes the wording of the report line)."""
        index = bisect_right(self.loaded_ranges, (contact_id, sys.maxsize)) - 1
        return index >= 0 and contact_id <= self.loaded_ranges[index][1]

    # --- look-ups ---------------------------------------------------------

    def _find_companies(self, domains: set[str]) -> dict[str, _Company]:
        """The companies behind ``domains`` not already known, by domain."""
        unknown = sorted(domains - self.companies.keys())
        if not unknown:
            return {}
        found = self._companies_by_domain(unknown)
        alias = (
            select(CompanyDomain.domain, Company.id, Company.name, Company.domain)
            .join(Company, Company.id == CompanyDomain.company_id)
            .where(in_values(self.conn, CompanyDomain.domain, unknown))
        )
        for alias_domain, *company in self.conn.execute(alias):
            found[alias_domain] = _Company(*company)
        return found

    def _companies_by_domain(self, domains: Sequence[str]) -> dict[str, _Company]:
        query = select(Company.id, Company.name, Company.domain).where(
            in_values(self.conn, Company.domain, domains)
        )
        return {
            company.domain: _Company(*company) for company in self.conn.execute(query)
        }

    def _suppressed(
        self, candidates: Sequence[_Candidate], known: dict[str, _Company]
    ) -> set[int]:
        """Row numbers of the people on the suppression list.

        As for a member's contribution: the email, or the name at the email's
        domain, the company domain given or the company's own domain.
        """
        key = self.suppression_key
        by_email: dict[str, list[int]] = {}
        by_name: dict[str, list[int]] = {}
        for c in candidates:
            clean = c.clean
            domains = {c.email_domain, c.company_domain}
            company = known.get(c.company_domain)
            if company is not None:
                domains.add(company.domain)
            number = c.row.number
            for hashed in email_hashes(key, clean.email):
                by_email.setdefault(hashed, []).append(number)
            for domain in domains:
                hashed = name_hash(key, clean.first_name, clean.last_name, domain)
                by_name.setdefault(hashed, []).append(number)
        suppressed: set[int] = set()
        for column, hashes in (
            (SuppressionEntry.email_hash, by_email),
            (SuppressionEntry.name_hash, by_name),
        ):
            query = select(column).where(in_values(self.conn, column, hashes))
            for hashed in self.conn.scalars(query):
                suppressed.update(hashes[hashed])
        return suppressed

    def _existing_emails(self, emails: list[str]) -> dict[str, int]:
        query = select(Contact.email, Contact.id).where(
            in_values(self.conn, Contact.email, emails)
        )
        return dict(self.conn.execute(query).all())

    # --- writes -----------------------------------------------------------

    def _create_companies(
        self, accepted: Sequence[_Candidate], known: dict[str, _Company]
    ) -> dict[str, _Company]:
        """Create a company for each unknown company domain, named from its
        first row (or from the domain when that row names none)."""
        names: dict[str, str] = {}
        for c in accepted:
            if c.company_domain not in known and c.company_domain not in names:
                names[c.company_domain] = (
                    c.clean.company or c.company_domain.split(".")[0].capitalize()
                )
        if not names:
            return {}
        # Another writer may create one of them meanwhile: theirs is used.
        self.conn.execute(
            self.insert(Company).on_conflict_do_nothing(index_elements=["domain"]),
            [
                {
                    "name": name,
                    "normalised_name": normalise_company_name(name),
                    "domain": domain,
                    "created_at": self.now,
                }
                for domain, name in names.items()
            ],
        )
        return self._companies_by_domain(list(names))

    def _rows(
        self,
        accepted: Sequence[_Candidate],
        ids: Sequence[int],
        known: dict[str, _Company],
    ) -> tuple[list[tuple], list[tuple], list[tuple[_Candidate, int, _Company]]]:
        """Contact and revision rows, and the rows to hold (domain mismatch)."""
        stamp = self.stamp
        active, held_state = ContactState.ACTIVE.value, ContactState.HELD.value
        kind = RevisionKind.CONTRIBUTION.value
        source = RevisionSource.OPERATOR_IMPORT.value
        contacts: list[tuple] = []
        revisions: list[tuple] = []
        held: list[tuple[_Candidate, int, _Company]] = []
        for candidate, contact_id in zip(accepted, ids, strict=True):
            clean = candidate.clean
            company = known[candidate.company_domain]
            email_company = known.get(candidate.email_domain)
            is_held = email_company is None or email_company.id != company.id
            if is_held:
                held.append((candidate, contact_id, company))
            contacts.append(
                (
                    contact_id,
                    clean.first_name,
                    clean.last_name,
                    clean.title,
                    clean.seniority,
                    clean.department,
                    company.id,
                    clean.email,
                    clean.phone,
                    clean.city,
                    clean.country,
                    held_state if is_held else active,
                    stamp,
                    stamp,
                    stamp,
                )
            )
            values = {
                "first_name": clean.first_name,
                "last_name": clean.last_name,
                "title": clean.title,
                "company": company.name,
                "email": clean.email,
                "phone": clean.phone,
                "city": clean.city,
                "country": clean.country,
            }
            fields = {name: values[name] for name in PROVENANCE_FIELDS if values[name]}
            revisions.append((contact_id, kind, source, json.dumps(fields), stamp))
        return contacts, revisions, held

    def _flag_held(self, held: Sequence[tuple[_Candidate, int, _Company]]) -> None:
        """One open moderation flag per held contact, as the form raises."""
        contact_ids = [contact_id for _, contact_id, _ in held]
        query = select(Revision.contact_id, Revision.id).where(
            in_values(self.conn, Revision.contact_id, contact_ids)
        )
        revision_ids = dict(self.conn.execute(query).all())
        company_ids = {company.id for _, _, company in held}
        company_domains: dict[int, set[str]] = {}
        for query in (
            select(Company.id, Company.domain).where(
                in_values(self.conn, Company.id, company_ids)
            ),
            select(CompanyDomain.company_id, CompanyDomain.domain).where(
                in_values(self.conn, CompanyDomain.company_id, company_ids)
            ),
        ):
            for company_id, domain in self.conn.execute(query):
                company_domains.setdefault(company_id, set()).add(domain)
        rows = []
        for candidate, contact_id, company in held:
            names = ", ".join(sorted(company_domains[company.id]))
            details = (
                f"The email domain {candidate.email_domain} is not one of "
                f"{company.name}'s domains ({names}). Loaded by an operator import."
            )
            rows.append(
                (
                    self.flag["kind"].value,
                    self.flag["source"].value,
                    self.flag["state"].value,
                    contact_id,
                    revision_ids[contact_id],
                    details,
                    self.flag["priority"],
                    self.flag_due_stamp,
                    self.stamp,
                )
            )
        self.writer.insert("flags", _FLAG_COLUMNS, rows)
