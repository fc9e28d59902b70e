"""Finding contacts: free text over name, title and company, plus filters.

Typo-tolerant and fast at a million contacts, the same way on SQLite and
PostgreSQL (``bench/search.py`` measures it). The index is a vocabulary kept
in step by database triggers (migration ``0005_search_index``):

* every distinct first name, last name, title and city, and every company
  name, split into folded words ("Müller-Lüdenscheidt" gives "mueller",
  "luedenscheidt" and "muellerluedenscheidt");
* each word's one-letter deletions, so that words one edit apart (a wrong,
  missing, extra or swapped letter) share a variant.

A search folds the typed text the same way, drops joining words like "at"
("Jon Smiht at Acme"), and looks each word and its deletions up: a handful
of B-tree probes find every indexed word within one edit, or starting with
the last word while it is being typed. Those words stand for field values
and companies. Every word must match a first or last name, title, city or
company; the ways the words can all match one contact ("readings": Jon as a
first name and Smith as a last name, or Smith as a company...) are worked
out on the vocabulary, and each is one look-up through B-tree indexes on
contacts: (last_name, first_name), first_name, title, city, company_id.
Matches (at most ``RERANK_LIMIT``) are ranked with rapidfuzz on the words as
typed, freshest first among equals. Larger result sets are counted as
"1,000+" and come exact matches first, then freshest first.

Only active and disputed contacts are found. Bad input never raises: text is
cut to ``MAX_QUERY_CHARACTERS`` and ``MAX_WORDS`` words, only letters and
digits are ever searched for (quotes, ``*``, ``-``, ``NEAR`` are separators
or plain words), and unusable filters are ignored with a note.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA
from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    false,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from portal.dialects import in_values
from portal.masking import mask_email
from portal.models import (
    Company,
    Contact,
    ContactState,
    SearchTerm,
    SearchVariant,
    SearchWord,
)
from portal.models.base import utcnow
from portal.models.search import MAX_WORD
from portal.normalise import FieldProblem, normalise_country
from portal.textfold import LEGAL_FORMS, fold
from portal.titles import DEPARTMENTS, SENIORITIES

Order = Literal["relevance", "recent"]

PER_PAGE = 25
# Results are counted exactly and ranked by relevance up to this many; more
# are shown as "1,000+", exact matches first, then freshest first.
RERANK_LIMIT = 1_000
# Up to PROBE_LIMIT matches are read in one go (any order: through whichever
# indexes are cheapest) and sorted here. More than that (0.3% of a million
# contacts), and they are dense enough that walking down the freshness index
# to the page asked for is cheap: ~8,000 rows for the first page.
PROBE_LIMIT = 3_000
# A company filter of at most this many digits is a company's id.
MAX_ID_DIGITS = 9
MAX_QUERY_CHARACTERS = 200
# Industry and size band filters are at most this long (the columns' size).
MAX_COMPANY_FACT = 80
MAX_WORDS = 8
# Months a "confirmed within" filter may ask for.
MAX_MONTHS = 120
# Words of this length or more may be one edit off ("am" finds "Sam"; two
# letters find only a third added); shorter ones must be exact. The last word
# being typed also matches words it starts with, from PREFIX_MIN_LENGTH
# letters, up to PREFIX_WORDS of them.
FUZZY_MIN_LENGTH = 2
PREFIX_MIN_LENGTH = 3
PREFIX_WORDS = 200
# Same bounds as the triggers' (migration 0005_search_index).
MIN_VARIANT_WORD, MAX_VARIANT_WORD = 3, 24

# Joining words between the parts of a query ("John Smith at Acme").
STOPWORDS = frozenset(
    {"at", "from", "of", "the", "and", "in", "for", "with", "who", "works", "by"}
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# How much a word matching each field counts, against a name (title: also
# city). A role query ("engineer") wants people with that title before people
# at a company with the word in its name ("X Engineering"), so titles weigh
# more than companies.
TITLE_WEIGHT = 0.95
COMPANY_WEIGHT = 0.85


def words_of(text: str, *, joined: bool = True) -> list[str]:
    """The indexed words of a value: its folded words and, with ``joined``
    and more than one word, all of them written together."""
    parts = [part for part in fold(text).split(" ") if part]
    words = list(dict.fromkeys(part for part in parts if len(part) <= MAX_WORD))
    together = "".join(parts)
    if joined and len(parts) > 1 and len(together) <= MAX_WORD:
        words.append(together)
    return words


def _variants(word: str) -> set[str]:
    """The word and, for words the index keeps deletions of, each one-letter
    deletion."""
    if not MIN_VARIANT_WORD <= len(word) <= MAX_VARIANT_WORD:
        return {word}
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


# --- the query ---------------------------------------------------------------


@dataclass(frozen=True)
class SearchQuery:
    """What the member asked for. Build one from request parameters with
    :meth:`from_params`, which never raises."""

    text: str = ""
    # A company id, or words of a company's name.
    company: str = ""
    seniority: str | None = None
    department: str | None = None
    # Words that must all be in the title.
    title: str = ""
    city: str = ""
    # ISO 3166 alpha-2.
    country: str | None = None
    confirmed_within_months: int | None = None
    # The company's industry and size band, as stored ("Software", "51-200").
    industry: str = ""
    size: str = ""
    order: Order = "relevance"
    page: int = 1
    per_page: int = PER_PAGE
    # Filters that were given but could not be used, for the page to say so.
    ignored: tuple[str, ...] = ()

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], per_page: int = PER_PAGE
    ) -> SearchQuery:
        """Read ``q``, ``company``, ``seniority``, ``department``, ``title``,
        ``city``, ``country``, ``confirmed`` (months), ``order`` and ``page``.

        Unknown parameters are not read; unusable values are dropped and
        listed in ``ignored``; overlong text is cut.
        """
        ignored: list[str] = []

        def text(name: str) -> str:
            value = _clean(str(params.get(name) or ""))[: MAX_QUERY_CHARACTERS * 4]
            typing = value[-1:].isspace()
            value = " ".join(value.split())[:MAX_QUERY_CHARACTERS]
            # A trailing space says the last word is complete (no prefixes).
            return value + " " if typing and value else value

        def choice(name: str, allowed: Iterable[str]) -> str | None:
            value = text(name).lower()
            if not value:
                return None
            if value not in allowed:
                ignored.append(name)
                return None
            return value

        country = None
        if raw_country := text("country"):
            try:
                country = normalise_country(raw_country)
            except FieldProblem:
                ignored.append("country")
        months = None
        if raw_months := text("confirmed"):
            try:
                months = int(raw_months)
            except ValueError:
                months = None
            if months is None or not 1 <= months <= MAX_MONTHS:
                ignored.append("confirmed")
                months = None
        try:
            page = max(1, int(text("page") or 1))
        except ValueError:
            page = 1
        order = text("order").lower()
        if order not in ("relevance", "recent"):
            if order:
                ignored.append("order")
            order = "relevance"
        return cls(
            text=text("q"),
            company=text("company"),
            seniority=choice("seniority", SENIORITIES),
            department=choice("department", DEPARTMENTS),
            title=text("title"),
            city=text("city"),
            country=country,
            confirmed_within_months=months,
            industry=text("industry")[:MAX_COMPANY_FACT].strip(),
            size=text("size")[:MAX_COMPANY_FACT].strip(),
            order=order,  # type: ignore[arg-type]
            page=min(page, 10**6),
            per_page=per_page,
            ignored=tuple(ignored),
        )

    @property
    def has_filters(self) -> bool:
        return any(
            (
                self.company,
                self.seniority,
                self.department,
                self.title,
                self.city,
                self.country,
                self.confirmed_within_months,
                self.industry,
                self.size,
            )
        )

    @property
    def is_blank(self) -> bool:
        """Nothing to search for: no words and no filters."""
        return not self.text.strip() and not self.has_filters

    def params(self, **changes: object) -> dict[str, str]:
        """The query as URL parameters (blank ones left out)."""
        values = {
            "q": self.text,
            "company": self.company,
            "seniority": self.seniority or "",
            "department": self.department or "",
            "title": self.title,
            "city": self.city,
            "country": self.country or "",
            "confirmed": str(self.confirmed_within_months or ""),
            "industry": self.industry,
            "size": self.size,
            "order": "" if self.order == "relevance" else self.order,
            "page": "" if self.page == 1 else str(self.page),
        }
        values.update({key: str(value) for key, value in changes.items()})
        return {key: value for key, value in values.items() if value}


# --- results -----------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    """A contact as a search shows it before reveal: no email or phone, only
    whether they exist and the masked email."""

    contact_id: int
    first_name: str
    last_name: str
    title: str
    company_id: int
    company_name: str
    city: str | None
    country: str | None
    last_confirmed_at: datetime | None
    masked_email: str
    has_email: bool
    has_phone: bool
    disputed: bool
    score: float

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class SearchResults:
    query: SearchQuery
    hits: list[SearchHit]
    # Exact, unless ``total_is_lower_bound``: then there are more than this.
    total: int
    total_is_lower_bound: bool
    page: int
    pages: int
    # Typed words that match nothing in the index (left out of the search).
    unmatched_words: tuple[str, ...] = ()
    # Nobody matched every word: these match the names typed.
    relaxed: bool = False
    # Filter words that match no company, title or city.
    unmatched_filters: tuple[str, ...] = ()
    # The words searched for when some typed ones were typos ("margaret
    # hamilton" for "margret hamiltn"); None when every word was found as typed.
    corrected: str | None = None
    # How many of the ranked matches (all of them, or the first
    # ``RERANK_LIMIT``) fall in each seniority, department and country.
    facets: Facets | None = None

    @property
    def blank(self) -> bool:
        return self.query.is_blank

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def count_label(self) -> str:
        """ "1 result", "42 results", "1,000+ results"."""
        plus = "+" if self.total_is_lower_bound else ""
        noun = "result" if self.total == 1 and not plus else "results"
        return f"{self.total:,}{plus} {noun}"


@dataclass(frozen=True)
class Facets:
    seniority: list[tuple[str, int]]
    department: list[tuple[str, int]]
    country: list[tuple[str, int]]
    # Counted among this many matches: all of them unless the total is "1,000+".
    counted: int


FACET_COUNTRIES = 10


def _facets(session: Session, rows: list, counted: int) -> Facets:
    """Counts per seniority, department and country among ``rows`` (matches),
    largest first; values no contact has are left out."""
    ids = [row.id for row in rows]
    counts: dict[str, dict[str, int]] = {
        "seniority": {},
        "department": {},
        "country": {},
    }
    bind = session.get_bind()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        for seniority, department, country in session.execute(
            select(Contact.seniority, Contact.department, Contact.country).where(
                in_values(bind, Contact.id, chunk)
            )
        ):
            for name, value in (
                ("seniority", seniority),
                ("department", department),
                ("country", country),
            ):
                if value:
                    counts[name][value] = counts[name].get(value, 0) + 1

    def ordered(name: str, order: Iterable[str] | None = None) -> list:
        found = counts[name]
        if order is not None:
            return [(value, found[value]) for value in order if value in found]
        return sorted(found.items(), key=lambda pair: (-pair[1], pair[0]))

    return Facets(
        seniority=ordered("seniority", SENIORITIES),
        department=ordered("department"),
        country=ordered("country")[:FACET_COUNTRIES],
        counted=counted,
    )


def _corrected(tokens: list[_Token], near: list[dict[str, int]]) -> str | None:
    """The words searched for, when a typed word matched only words one edit
    away: the nearest (same length first, then alphabetical) stands for it."""
    words = []
    changed = False
    for token, found in zip(tokens, near, strict=True):
        if not found or 0 in found.values():
            words.append(token.word)
            continue
        best = min(found, key=lambda w: (found[w], abs(len(w) - len(token.word)), w))
        words.append(best)
        changed = True
    return " ".join(words) if changed else None


# --- matching words ----------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    word: str
    position: int
    # Counts towards a match; legal forms and initials only add to the score.
    required: bool
    # The last word, still being typed: words starting with it match too.
    partial: bool


@dataclass
class _Matches:
    """What one typed word matches, each with the edits it took (0: exact)."""

    # field -> value -> edits
    values: dict[str, dict[str, int]] = field(default_factory=dict)
    companies: dict[int, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.options(exact_only=False))

    @property
    def exact(self) -> bool:
        """Whether everything this word matches, it matches without a typo."""
        return not any(
            edits for values in self.values.values() for edits in values.values()
        ) and not any(self.companies.values())

    def of(self, name: str) -> list[str]:
        return list(self.values.get(name, ()))

    def options(self, exact_only: bool) -> list[tuple[str, frozenset]]:
        """(field, values) pairs, "company" with company ids, that a contact
        matching this word has one of.

        A word that matches a name matches companies only exactly: "smiht"
        is read as Smith, not as any of the hundreds of companies with
        "Smith" in their name, a reading that costs more than the rest.
        """
        limit = 0 if exact_only else 1
        options = [
            (name, frozenset(v for v, e in values.items() if e <= limit))
            for name, values in self.values.items()
            if name in _COLUMNS
        ]
        if self.of("first_name") or self.of("last_name"):
            limit = 0
        options.append(
            ("company", frozenset(c for c, e in self.companies.items() if e <= limit))
        )
        return [(name, values) for name, values in options if values]


def _clean(text: str) -> str:
    """``text`` without control characters (NUL and the like), NFC-composed."""
    text = unicodedata.normalize("NFC", text)
    return _CONTROL.sub(" ", text)


def _tokens(text: str) -> list[_Token]:
    text = _clean(text)
    typing = bool(text) and not text[-1].isspace()
    words = [w for w in fold(text).split(" ") if w]
    words = [w for w in words if w not in STOPWORDS and len(w) <= MAX_WORD]
    words = list(dict.fromkeys(words))[:MAX_WORDS]
    return [
        _Token(
            word=word,
            position=i,
            required=len(word) > 1 and word not in LEGAL_FORMS,
            partial=typing and i == len(words) - 1 and len(word) >= PREFIX_MIN_LENGTH,
        )
        for i, word in enumerate(words)
    ]


def _allowed_edits(word: str) -> int:
    return 1 if len(word) >= FUZZY_MIN_LENGTH else 0


def _near_words(session: Session, tokens: list[_Token]) -> list[dict[str, int]]:
    """For each token, the indexed words within its allowed edits (and, if
    partial, starting with it), with their edit counts."""
    bind = session.get_bind()
    variants = {t.word: _variants(t.word) for t in tokens}
    wanted = set().union(*variants.values()) if variants else set()
    found: dict[str, set[str]] = {}
    if wanted:
        rows = session.execute(
            select(SearchVariant.variant, SearchVariant.word).where(
                in_values(bind, SearchVariant.variant, sorted(wanted))
            )
        )
        for variant, word in rows:
            found.setdefault(variant, set()).add(word)
    near = []
    for token in tokens:
        limit = _allowed_edits(token.word)
        words: dict[str, int] = {}
        for variant in variants[token.word]:
            for word in found.get(variant, ()):
                edits = OSA.distance(token.word, word, score_cutoff=limit)
                if edits <= limit:
                    words[word] = min(edits, words.get(word, edits))
        if token.partial:
            for word in session.scalars(
                select(SearchWord.word)
                .where(
                    SearchWord.word >= token.word,
                    SearchWord.word < token.word[:-1] + chr(ord(token.word[-1]) + 1),
                )
                .distinct()
                .order_by(SearchWord.word)
                .limit(PREFIX_WORDS)
            ):
                if word.startswith(token.word):
                    words.setdefault(word, 0)
        near.append(words)
    return near


def _matches(session: Session, near: list[dict[str, int]]) -> list[_Matches]:
    """What each token's words stand for: field values and companies."""
    every_word = sorted(set().union(*near)) if near else []
    owners: dict[str, list[tuple[str | None, str | None, int | None]]] = {}
    if every_word:
        rows = session.execute(
            select(
                SearchWord.word,
                SearchTerm.field,
                SearchTerm.value,
                SearchWord.company_id,
            )
            .outerjoin(SearchTerm, SearchTerm.id == SearchWord.term_id)
            .where(in_values(session.get_bind(), SearchWord.word, every_word))
        )
        for word, field_name, value, company_id in rows:
            owners.setdefault(word, []).append((field_name, value, company_id))
    matches = []
    for words in near:
        found = _Matches()
        for word, edits in words.items():
            for field_name, value, company_id in owners.get(word, ()):
                if company_id is not None:
                    if edits < found.companies.get(company_id, 99):
                        found.companies[company_id] = edits
                elif field_name is not None and value is not None:
                    by_value = found.values.setdefault(field_name, {})
                    if edits < by_value.get(value, 99):
                        by_value[value] = edits
        matches.append(found)
    return matches


def _field_values(session: Session, text: str, name: str) -> tuple[list[str], bool]:
    """Values of ``name`` (a field) having every word of ``text``, typo-tolerant;
    and whether ``text`` had words at all."""
    tokens = [replace(t, required=True) for t in _tokens(text)]
    if not tokens:
        return [], False
    values: set[str] | None = None
    for found in _matches(session, _near_words(session, tokens)):
        these = set(found.of(name))
        values = these if values is None else values & these
    return sorted(values or ()), True


def _company_ids(session: Session, text: str) -> tuple[list[int], bool]:
    """Companies named by ``text``: an id, or every (non legal form) word of
    the name, typo-tolerant."""
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS:
        return [int(text)], True
    tokens = _tokens(text)
    wanted = [t for t in tokens if t.required] or tokens
    if not wanted:
        return [], False
    ids: set[int] | None = None
    for found in _matches(session, _near_words(session, wanted)):
        these = set(found.companies)
        ids = these if ids is None else ids & these
    return sorted(ids or ()), True


# --- searching ---------------------------------------------------------------


# A reading of the typed words: for each field, the values (for "company",
# company ids) a contact must have one of.
Reading = dict[str, frozenset]
_COLUMNS = {
    "first_name": Contact.first_name,
    "last_name": Contact.last_name,
    "title": Contact.title,
    "city": Contact.city,
    "company": Contact.company_id,
}
# More readings than this, and the words are matched one by one instead.
MAX_READINGS = 48
# Words tried leaving out when nobody matches them all.
MAX_RELAXED = 3


def _readings(matches: list[_Matches], exact_only: bool) -> list[Reading] | None:
    """Every way the words can all match one contact, or None if too many.

    A contact matches all words when each matches one of its fields; words
    matching the same field must all match one value ("head" and "sales" in
    the title "Head of Sales"), which is checked here, on the vocabulary, so
    each reading is one indexed look-up: (first_name, last_name) pairs,
    titles, companies.
    """
    readings: list[Reading] = [{}]
    for found in matches:
        options = found.options(exact_only)
        grown: dict[tuple, Reading] = {}
        for reading in readings:
            for name, values in options:
                merged = values & reading[name] if name in reading else values
                if merged:
                    new = {**reading, name: merged}
                    grown.setdefault(tuple(sorted(new.items(), key=str)), new)
        readings = list(grown.values())
        if len(readings) > MAX_READINGS:
            return None
    return readings


def _reading_condition(bind, reading: Reading) -> ColumnElement[bool]:
    return and_(
        *(
            in_values(bind, _COLUMNS[name], sorted(values))
            for name, values in sorted(reading.items())
        )
    )


def _words_condition(
    bind, matches: list[_Matches], exact_only: bool = False
) -> ColumnElement[bool]:
    """Contacts that every word matches (by first or last name, title, city
    or company), as one condition the database can answer from its indexes."""
    readings = _readings(matches, exact_only)
    if readings is not None:
        return (
            or_(*(_reading_condition(bind, r) for r in readings))
            if readings
            else false()
        )
    per_word = [
        or_(
            *(
                _reading_condition(bind, {name: values})
                for name, values in found.options(exact_only)
            )
        )
        for found in matches
    ]
    return and_(*per_word)


@dataclass
class _Filters:
    conditions: list[ColumnElement[bool]]
    unmatched: list[str]
    # A filter matched nothing: the search cannot find anyone.
    empty: bool


def _filters(session: Session, query: SearchQuery, now: datetime) -> _Filters:
    bind = session.get_bind()
    found = _Filters([Contact.state.in_(ContactState.searchable_states())], [], False)

    def add(name: str, column, values: list, had_words: bool) -> None:
        if had_words:
            found.conditions.append(in_values(bind, column, values))
            if not values:
                found.unmatched.append(name)
                found.empty = True

    if query.company:
        add("company", Contact.company_id, *_company_ids(session, query.company))
    if query.title:
        add("title", Contact.title, *_field_values(session, query.title, "title"))
    if query.city:
        add("city", Contact.city, *_field_values(session, query.city, "city"))
    if query.industry or query.size:
        companies = select(Company.id)
        if query.industry:
            companies = companies.where(Company.industry == query.industry)
        if query.size:
            companies = companies.where(Company.size_band == query.size)
        found.conditions.append(Contact.company_id.in_(companies))
    if query.seniority:
        found.conditions.append(Contact.seniority == query.seniority)
    if query.department:
        found.conditions.append(Contact.department == query.department)
    if query.country:
        found.conditions.append(Contact.country == query.country)
    if months := query.confirmed_within_months:
        since = now - timedelta(days=round(30.44 * months))
        found.conditions.append(Contact.last_confirmed_at >= since)
    return found


_CANDIDATE_COLUMNS = (
    Contact.id,
    Contact.first_name,
    Contact.last_name,
    Contact.title,
    Contact.city,
    Contact.company_id,
    # As the driver gives it (SQLite: sortable text): only compared here.
    type_coerce(Contact.last_confirmed_at, NullType()).label("confirmed"),
)


def _candidates(
    session: Session,
    conditions: list[ColumnElement[bool]],
    limit: int,
    *,
    freshest: bool = False,
) -> list:
    """Up to ``limit`` matching contacts: any, read through whichever indexes
    are cheapest; or with ``freshest`` the most recently confirmed, walking
    down the freshness index (only asked for when matches are dense)."""
    if freshest and session.get_bind().dialect.name == "sqlite":
        # SQLite would rather read every match through the other indexes and
        # sort them, ten times slower at 2% of a million: behind CASE, the
        # conditions can use no index, so it walks the freshness index.
        # PostgreSQL's planner gets this right by itself.
        conditions = [case((and_(*conditions), 1), else_=0) == 1]
    statement = select(*_CANDIDATE_COLUMNS).where(*conditions)
    if freshest:
        statement = statement.order_by(
            Contact.last_confirmed_at.desc().nulls_last(), Contact.id.desc()
        )
    return session.connection().execute(statement.limit(limit)).all()


def search_contacts(
    session: Session, query: SearchQuery, *, now: datetime | None = None
) -> SearchResults:
    """One page of the contacts ``query`` finds, best first.

    Guarantees: only active and disputed contacts; never an email address or
    phone number, only masked emails and whether each detail exists; a blank
    query (no words, no filters) finds nobody; the page is clamped to the
    pages there are. Typed words that match nothing in the index are left
    out (and listed in ``unmatched_words``) unless none match, which finds
    nobody (as do words that are only separators, initials or legal forms);
    if nobody matches every word, the people matching all but one are
    offered (``relaxed``). Up to ``RERANK_LIMIT`` results are counted
    exactly and ranked by relevance (rapidfuzz); beyond, the count is a lower
    bound ("1,000+") and results come exact matches first, then freshest
    first. Reads only; never raises for any query text or filter value.
    """
    now = now or utcnow()
    bind = session.get_bind()
    if query.is_blank:
        return SearchResults(query, [], 0, False, 1, 1)
    filters = _filters(session, query, now)
    tokens = _tokens(query.text)
    near = _near_words(session, tokens) if tokens else []
    matches = _matches(session, near) if tokens else []
    unmatched = tuple(
        t.word for t, m in zip(tokens, matches, strict=True) if t.required and not m
    )
    required = [m for t, m in zip(tokens, matches, strict=True) if t.required and m]
    if filters.empty or (query.text.strip() and not required):
        # Nothing to find: a filter matches nothing, or the words typed match
        # nothing or are only separators, initials and legal forms.
        return SearchResults(
            query, [], 0, False, 1, 1, unmatched, False, tuple(filters.unmatched)
        )

    conditions = list(filters.conditions)
    if required:
        conditions.append(_words_condition(bind, required))
    rows = _candidates(session, conditions, PROBE_LIMIT + 1)
    relaxed = False
    if not rows and len(required) > 1:
        rows = _relaxed(session, filters.conditions, required)
        relaxed = bool(rows)
    lower_bound = len(rows) > RERANK_LIMIT
    total = min(len(rows), RERANK_LIMIT)
    pages = max(1, math.ceil(total / query.per_page))
    page = min(query.page, pages)
    start, end = (page - 1) * query.per_page, page * query.per_page
    if not lower_bound:
        ranked = _rank(rows, tokens, matches, query.order)
    elif len(rows) <= PROBE_LIMIT:
        ranked = _tiered(rows, required, query.order)
    else:
        top = _freshest(session, filters.conditions, required, query.order, end)
        exact = _ExactMatch(required)
        ranked = [(float(exact.words(row)), row) for row in top]
    # Past RERANK_LIMIT matches, facets count that many of them.
    counted = rows[:RERANK_LIMIT]
    return SearchResults(
        query=query,
        hits=_hits(session, ranked[start:end]),
        total=total,
        total_is_lower_bound=lower_bound,
        page=page,
        pages=pages,
        unmatched_words=unmatched,
        relaxed=relaxed,
        unmatched_filters=tuple(filters.unmatched),
        corrected=_corrected(tokens, near),
        facets=_facets(session, counted, len(counted)),
    )


def _tiered(rows, required: list[_Matches], order: Order) -> list:
    """(score, row) pairs, the score being how many words a row matches
    exactly: for relevance, best first, then freshest first; for recent,
    freshest first."""
    exact = _ExactMatch(required)
    scored = [(float(exact.words(row)), row) for row in rows]
    if order == "relevance":
        scored.sort(key=lambda pair: (pair[0], *_freshness(pair[1])), reverse=True)
    else:
        scored.sort(key=lambda pair: _freshness(pair[1]), reverse=True)
    return scored


def _freshest(
    session: Session,
    filters: list,
    required: list[_Matches],
    order: Order,
    count: int,
) -> list:
    """The first ``count`` of more than ``PROBE_LIMIT`` matches, freshest
    first; for relevance, exact matches before the others.

    Walks down the freshness index: the matches are dense enough (0.3% and
    up) for that to stop soon. Exact matches may be too sparse to walk to,
    so they are read in one go when there are at most ``PROBE_LIMIT``.
    """
    bind = session.get_bind()
    every = [*filters, _words_condition(bind, required)] if required else filters
    if order != "relevance" or all(m.exact for m in required):
        return _candidates(session, every, count, freshest=True)
    exact = [*filters, _words_condition(bind, required, exact_only=True)]
    first = _candidates(session, exact, PROBE_LIMIT + 1)
    if len(first) > PROBE_LIMIT:
        return _candidates(session, exact, count, freshest=True)
    first.sort(key=_freshness, reverse=True)
    if len(first) >= count:
        return first[:count]
    seen = {row.id for row in first}
    rest = _candidates(session, every, count + len(first), freshest=True)
    return first + [row for row in rest if row.id not in seen][: count - len(first)]


def _relaxed(session: Session, filters: list, required: list[_Matches]) -> list:
    """Contacts matching all words but one: leaving out, in turn, the words
    that match no name, then the others from the last typed."""
    bind = session.get_bind()

    def is_name(i: int) -> bool:
        return bool(required[i].of("first_name") or required[i].of("last_name"))

    order = sorted(range(len(required)), key=lambda i: (is_name(i), -i))
    for left_out in order[:MAX_RELAXED]:
        rest = [m for i, m in enumerate(required) if i != left_out]
        condition = _words_condition(bind, rest)
        rows = _candidates(session, [*filters, condition], PROBE_LIMIT + 1)
        if rows:
            return rows
    return []


class _ExactMatch:
    """How many typed words a contact matches without a typo."""

    def __init__(self, required: list[_Matches]) -> None:
        self.sets = [
            (
                {v for v, e in m.values.get("first_name", {}).items() if e == 0},
                {v for v, e in m.values.get("last_name", {}).items() if e == 0},
                {v for v, e in m.values.get("title", {}).items() if e == 0},
                {v for v, e in m.values.get("city", {}).items() if e == 0},
                {c for c, e in m.companies.items() if e == 0},
            )
            for m in required
        ]

    def words(self, row) -> int:
        return sum(
            1
            for firsts, lasts, titles, cities, companies in self.sets
            if row.first_name in firsts
            or row.last_name in lasts
            or row.title in titles
            or row.city in cities
            or row.company_id in companies
        )


def _rank(
    rows, tokens: list[_Token], matches: list[_Matches], order: Order
) -> list[tuple[float, object]]:
    """(score, row) pairs, best first: by score (rapidfuzz), then freshest;
    or freshest first for ``order="recent"``."""
    scorer = _Scorer(tokens, matches)
    scored = [(scorer.score(row), row) for row in rows]
    if order == "recent" or not scorer.required:
        scored.sort(key=lambda pair: _freshness(pair[1]), reverse=True)
    else:
        scored.sort(key=lambda pair: (pair[0], *_freshness(pair[1])), reverse=True)
    return scored


def _freshness(row) -> tuple:
    """Sorts descending as freshest first: confirmed ones, latest first, then
    the never confirmed; newest contact first among equals."""
    return (row.confirmed is not None, row.confirmed or "", row.id)


class _Scorer:
    """How well a contact matches the typed words, 0 to about 100.

    Typed words are paired with the words of the contact's first and last
    name, each name word used once, best pairs first, scored by rapidfuzz's
    ratio (a word being typed scores 95 against a name it starts; half a
    point more for a whole name rather than part of one). A word not paired
    may score a matched title or city word (x ``TITLE_WEIGHT``) or a matched
    company (``COMPANY_WEIGHT`` x 100, less 15 per edit). The score is the words'
    mean, plus a point for each legal form or initial that fits and one when
    the first name is typed before the last.
    """

    def __init__(self, tokens: list[_Token], matches: list[_Matches]) -> None:
        pairs = list(zip(tokens, matches, strict=True))
        self.required = [(t, m) for t, m in pairs if t.required and m]
        self.extra = [(t, m) for t, m in pairs if not t.required]
        self._words: dict[tuple[str, bool], list[str]] = {}
        self._ratios: dict[tuple[int, str], float] = {}

    def words(self, value: str, joined: bool = True) -> list[str]:
        key = (value, joined)
        if key not in self._words:
            self._words[key] = words_of(value, joined=joined)
        return self._words[key]

    def ratio(self, index: int, word: str) -> float:
        """The ``index``-th required word against ``word``."""
        key = (index, word)
        if key not in self._ratios:
            token = self.required[index][0]
            if token.partial and word.startswith(token.word) and word != token.word:
                self._ratios[key] = 95.0
            else:
                self._ratios[key] = fuzz.ratio(token.word, word)
        return self._ratios[key]

    def score(self, row) -> float:
        slots = []
        for part, value in (("first", row.first_name), ("last", row.last_name)):
            words = self.words(value)
            whole = words[-1] if words else ""
            slots += [(part, word, word == whole) for word in words]
        candidates = sorted(
            (
                (self.ratio(i, word) + (0.5 if whole else 0.0), i, s)
                for i in range(len(self.required))
                for s, (_, word, whole) in enumerate(slots)
            ),
            reverse=True,
        )
        best = [0.0] * len(self.required)
        paired: dict[int, str] = {}
        used: set[int] = set()
        for value, i, s in candidates:
            if value < 60 or len(paired) == len(self.required):
                break
            if i in paired or s in used:
                continue
            paired[i] = slots[s][0]
            used.add(s)
            best[i] = value
        for i, (token, found) in enumerate(self.required):
            for name, value in (("title", row.title), ("city", row.city)):
                if value in found.values.get(name, ()):
                    similarity = max(
                        (
                            fuzz.ratio(token.word, word)
                            for word in self.words(value, joined=name == "city")
                        ),
                        default=0.0,
                    )
                    best[i] = max(best[i], TITLE_WEIGHT * similarity)
            edits = found.companies.get(row.company_id)
            if edits is not None:
                best[i] = max(best[i], COMPANY_WEIGHT * (100 - 15 * edits))
        score = sum(best) / len(best) if best else 0.0
        for token, found in self.extra:
            if row.company_id in found.companies or any(
                word.startswith(token.word) for word in self.words(row.first_name)
            ):
                score += 1
        firsts = [i for i, part in paired.items() if part == "first"]
        lasts = [i for i, part in paired.items() if part == "last"]
        if firsts and lasts and min(firsts) < max(lasts):
            score += 1
        return score


def _hits(session: Session, ranked: list[tuple[float, object]]) -> list[SearchHit]:
    """The page's contacts, as shown before reveal, in ``ranked`` order."""
    scores = {row.id: score for score, row in ranked}
    ids = list(scores)
    if not ids:
        return []
    details = {
        row.id: row
        for row in session.execute(
            select(
                Contact.id,
                Contact.first_name,
                Contact.last_name,
                Contact.title,
                Contact.company_id,
                Company.name.label("company_name"),
                Contact.city,
                Contact.country,
                Contact.last_confirmed_at,
                Contact.email,
                Contact.phone.is_not(None).label("has_phone"),
                Contact.state,
            )
            .join(Company, Company.id == Contact.company_id)
            .where(Contact.id.in_(ids))
        )
    }
    return [
        SearchHit(
            contact_id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            title=row.title,
            company_id=row.company_id,
            company_name=row.company_name,
            city=row.city,
            country=row.country,
            last_confirmed_at=row.last_confirmed_at,
            masked_email=mask_email(row.email),
            has_email=bool(row.email),
            has_phone=bool(row.has_phone),
            disputed=row.state == ContactState.DISPUTED,
            score=round(scores[row.id], 1),
        )
        for row in (details[i] for i in ids if i in details)
    ]


def hits_for(session: Session, contact_ids: Iterable[int]) -> list[SearchHit]:
    """Contacts as a search result shows them (before reveal), in the order
    given; ids of unknown contacts are skipped."""

    @dataclass(frozen=True)
    class _Row:
        id: int

    return _hits(session, [(0.0, _Row(contact_id)) for contact_id in contact_ids])


def company_filter_values(session: Session) -> tuple[list[str], list[str]]:
    """The industries and size bands companies have, for the filters: the
    industries alphabetically, the bands from smallest up."""
    industries = session.scalars(
        select(Company.industry)
        .where(Company.industry.is_not(None))
        .distinct()
        .order_by(Company.industry)
    ).all()
    sizes = session.scalars(
        select(Company.size_band).where(Company.size_band.is_not(None)).distinct()
    ).all()

    def lower_bound(band: str) -> int:
        digits = re.match(r"\d+", band.replace(",", ""))
        return int(digits.group(0)) if digits else 10**9

    return list(industries), sorted(sizes, key=lambda band: (lower_bound(band), band))
