"""What the company pages show: companies with their number of searchable
contacts, and for one company its contacts (masked), counted by department,
seniority and freshness.

Read-only: functions take a session and plain values and never write. Only
searchable contacts are listed or counted (active and disputed ones); held
contacts wait for a moderator and graveyard ones are gone.

How the page of a company with 50,000 contacts stays fast among a million:

* Every count on it comes from one query grouped by (department, seniority)
  over the company's searchable contacts, which the (state, company_id) index
  finds; the freshness figures ride along in the same pass. The number of
  contacts a filter leaves is a sum of those groups, so the list does not
  count again.
* The contact list sorts ids and names only, then reads whole rows for the
  one page of ids.
* A list of companies counts contacts from the (state, company_id) index
  alone, without reading a row.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from portal import matching, titles
from portal.masking import mask_email
from portal.models import Company, Contact, ContactState
from portal.pagination import Page
from portal.titles import (
    SENIORITIES,
    UNRECOGNISED,
    department_label,
    seniority_label,
)

# Freshness: the share of contacts confirmed within each of these many months.
FRESHNESS_MONTHS = (6, 12)
# Company search shows this many closest matches.
SEARCH_LIMIT = 20
# Company names are at most 200 characters; longer text cannot match better.
MAX_QUERY_LENGTH = 200

DEPARTMENT_LABELS = {**titles.DEPARTMENT_LABELS, UNRECOGNISED: "Not recognised"}
SENIORITY_LABELS = {**titles.SENIORITY_LABELS, UNRECOGNISED: "Not recognised"}
# Alphabetical by name; the id keeps pages stable between namesakes.
_CONTACT_ORDER = (Contact.last_name, Contact.first_name, Contact.id)


# --- the company list --------------------------------------------------------


@dataclass(frozen=True)
class CompanyListing:
    """A company as the list shows it, with its number of searchable contacts."""

    id: int
    name: str
    domain: str
    city: str | None
    country: str | None
    contacts: int


def alphabetical_companies() -> Select:
    """Every company, alphabetically (by normalised name, which is indexed)."""
    return select(Company).order_by(Company.normalised_name, Company.id)


def company_listings(
    session: Session, companies: Sequence[Company]
) -> list[CompanyListing]:
    """``companies`` in the same order, each with its searchable contacts."""
    counts = searchable_contact_counts(session, [c.id for c in companies])
    return [
        CompanyListing(
            id=company.id,
            name=company.name,
            domain=company.domain,
            city=company.city,
            country=company.country,
            contacts=counts.get(company.id, 0),
        )
        for company in companies
    ]


def searchable_contact_counts(
    session: Session, company_ids: Sequence[int]
) -> dict[int, int]:
    """Searchable contacts per company; companies without any are left out."""
    if not company_ids:
        return {}
    rows = session.execute(
        select(Contact.company_id, func.count())
        .where(
            Contact.state.in_(ContactState.searchable_states()),
            Contact.company_id.in_(company_ids),
        )
        .group_by(Contact.company_id)
    )
    return dict(rows.all())


def search_companies(
    session: Session, text: str, limit: int = SEARCH_LIMIT
) -> list[CompanyListing]:
    """The companies closest to ``text`` (a name or domain, typos allowed),
    best first, at most ``limit``.

    Any text is safe: it is cut to ``MAX_QUERY_LENGTH`` characters and only
    compared in process (``matching.suggest_companies``), never put in SQL.
    """
    text = text.strip()[:MAX_QUERY_LENGTH]
    if not text:
        return []
    suggestions = matching.suggest_companies(session, text, limit)
    found = {
        company.id: company
        for company in session.scalars(
            select(Company).where(Company.id.in_([s.id for s in suggestions]))
        )
    }
    # A company deleted since the suggestion index was built is skipped.
    return company_listings(
        session, [found[s.id] for s in suggestions if s.id in found]
    )


# --- one company -------------------------------------------------------------


@dataclass(frozen=True)
class ContactFilter:
    """Which of a company's contacts to list: a department and a seniority
    (values from ``portal.titles``, or ``UNRECOGNISED``); None lists all."""

    department: str | None = None
    seniority: str | None = None

    @classmethod
    def parse(cls, department: str | None, seniority: str | None) -> ContactFilter:
        """A filter from request values; a value it does not know filters
        nothing rather than failing."""
        return cls(
            department if department in DEPARTMENT_LABELS else None,
            seniority if seniority in SENIORITY_LABELS else None,
        )

    def conditions(self) -> Iterator[ColumnElement[bool]]:
        for column, value in (
            (Contact.department, self.department),
            (Contact.seniority, self.seniority),
        ):
            if value == UNRECOGNISED:
                yield column.is_(None)
            elif value is not None:
                yield column == value

    def matches(self, department: str | None, seniority: str | None) -> bool:
        return all(
            wanted is None or wanted == (value or UNRECOGNISED)
            for wanted, value in (
                (self.department, department),
                (self.seniority, seniority),
            )
        )


@dataclass(frozen=True)
class Count:
    value: str
    label: str
    contacts: int


@dataclass(frozen=True)
class ConfirmedWithin:
    months: int
    contacts: int
    percent: float


@dataclass(frozen=True)
class CompanySummary:
    """A company with counts of its searchable contacts."""

    company: Company
    # The primary domain first, then the aliases.
    domains: list[str]
    contacts: int
    # Contacts per (department, seniority) as stored; None: not recognised.
    groups: dict[tuple[str | None, str | None], int]
    confirmed_within: list[ConfirmedWithin]
    last_confirmed_at: datetime | None

    @property
    def departments(self) -> dict[str, int]:
        """Contacts per department (``UNRECOGNISED`` for none)."""
        return self._totals(0)

    @property
    def seniorities(self) -> dict[str, int]:
        """Contacts per seniority (``UNRECOGNISED`` for none)."""
        return self._totals(1)

    @property
    def by_department(self) -> list[Count]:
        """Departments that have contacts, most first, unrecognised last."""
        counts = self.departments
        return [
            Count(value, department_label(value), counts[value])
            for value in sorted(
                counts,
                key=lambda v: (v == UNRECOGNISED, -counts[v], department_label(v)),
            )
        ]

    @property
    def by_seniority(self) -> list[Count]:
        """Every seniority, most senior first (with zeros: that a company has
        no known C-level contact is worth seeing), then any others."""
        counts = self.seniorities
        values = [*SENIORITIES]
        values += sorted(
            v for v in counts if v not in SENIORITIES and v != UNRECOGNISED
        )
        if counts.get(UNRECOGNISED):
            values.append(UNRECOGNISED)
        return [Count(v, seniority_label(v), counts.get(v, 0)) for v in values]

    def count(self, contact_filter: ContactFilter) -> int:
        """How many searchable contacts the filter leaves."""
        return sum(
            contacts
            for (department, seniority), contacts in self.groups.items()
            if contact_filter.matches(department, seniority)
        )

    def _totals(self, position: int) -> dict[str, int]:
        totals: dict[str, int] = {}
        for key, contacts in self.groups.items():
            value = key[position] or UNRECOGNISED
            totals[value] = totals.get(value, 0) + contacts
        return totals


def company_summary(
    session: Session, company_id: int, now: datetime
) -> CompanySummary | None:
    """The company and counts of its searchable contacts, or None if there is
    no such company. Freshness windows end at ``now``."""
    company = session.get(Company, company_id)
    if company is None:
        return None
    cutoffs = {months: _months_before(now, months) for months in FRESHNESS_MONTHS}
    rows = session.execute(
        select(
            Contact.department,
            Contact.seniority,
            func.count().label("contacts"),
            *(
                func.count()
                .filter(Contact.last_confirmed_at >= cutoff)
                .label(f"within_{months}")
                for months, cutoff in cutoffs.items()
            ),
            func.max(Contact.last_confirmed_at).label("last_confirmed_at"),
        )
        .where(*_searchable(company_id))
        .group_by(Contact.department, Contact.seniority)
    ).all()
    total = sum(row.contacts for row in rows)
    confirmed = {
        months: sum(getattr(row, f"within_{months}") for row in rows)
        for months in FRESHNESS_MONTHS
    }
    last_confirmed = [row.last_confirmed_at for row in rows if row.last_confirmed_at]
    return CompanySummary(
        company=company,
        domains=[company.domain, *sorted(alias.domain for alias in company.aliases)],
        contacts=total,
        groups={(row.department, row.seniority): row.contacts for row in rows},
        confirmed_within=[
            ConfirmedWithin(
                months, count, round(100 * count / total, 1) if total else 0.0
            )
            for months, count in confirmed.items()
        ],
        last_confirmed_at=max(last_confirmed, default=None),
    )


def count_contacts(
    session: Session, company_id: int, contact_filter: ContactFilter
) -> int:
    """How many of the company's searchable contacts the filter leaves."""
    return session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(*_searchable(company_id), *contact_filter.conditions())
    )


@dataclass(frozen=True)
class ContactRow:
    """A contact as listed before reveal. It holds no email or phone: only the
    masked email and whether a phone is on file."""

    id: int
    first_name: str
    last_name: str
    title: str
    city: str | None
    country: str | None
    state: ContactState
    last_confirmed_at: datetime | None
    masked_email: str
    has_phone: bool

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def company_contacts(
    session: Session,
    company_id: int,
    contact_filter: ContactFilter,
    raw_page: str | None,
    size: int,
    total: int,
) -> Page:
    """One page of the company's searchable contacts that the filter leaves,
    alphabetically, as ``ContactRow``s.

    ``total`` is how many the filter leaves (``CompanySummary.count`` or
    ``count_contacts``). A missing, malformed or out-of-range ``raw_page``
    gives the nearest real page.
    """
    pages = max(1, -(-total // size))
    try:
        number = min(max(1, int(raw_page or 1)), pages)
    except ValueError:
        number = 1
    page_ids = (
        select(Contact.id)
        .where(*_searchable(company_id), *contact_filter.conditions())
        .order_by(*_CONTACT_ORDER)
        .limit(size)
        .offset((number - 1) * size)
        .subquery()
    )
    rows = session.execute(
        select(
            Contact.id,
            Contact.first_name,
            Contact.last_name,
            Contact.title,
            Contact.city,
            Contact.country,
            Contact.state,
            Contact.last_confirmed_at,
            Contact.email,
            Contact.phone.is_not(None).label("has_phone"),
        )
        .join(page_ids, page_ids.c.id == Contact.id)
        .order_by(*_CONTACT_ORDER)
    )
    items = [
        ContactRow(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            title=row.title,
            city=row.city,
            country=row.country,
            state=row.state,
            last_confirmed_at=row.last_confirmed_at,
            masked_email=mask_email(row.email),
            has_phone=bool(row.has_phone),
        )
        for row in rows
    ]
    return Page(items=items, number=number, size=size, total=total)


def _searchable(company_id: int) -> tuple[ColumnElement[bool], ...]:
    return (
        Contact.state.in_(ContactState.searchable_states()),
        Contact.company_id == company_id,
    )


def _months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier, or that
    month's last day if it is shorter (31 Aug, 6 months back: 28 or 29 Feb)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
