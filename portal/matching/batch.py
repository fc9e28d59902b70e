"""Matching list rows against the pool in chunks: the list service's matcher.

A customer's row (names by company, perhaps an email, a phone, a title, a
city, a country) is matched with every signal it carries, in this order:

1. its email, exactly (after normalisation);
2. its phone, in E.164, when one contact holds that number;
3. its first and last name among the contacts of its company, the company
   resolved through names, alias domains, the company domain or website
   column and the email's domain (legal forms ignored), allowing typos,
   swapped first and last names, initials and nicknames (Bob = Robert).

A person found by email or phone at another company than the row's (or a
left-company record whose successor works elsewhere) has ``moved``.

Per chunk the matcher reads the pool in a handful of queries, whatever the
number of rows: contacts by email, by phone, their successors, the blocks of
every company the rows resolve to (:func:`portal.matching.people.load_blocks`)
and the details of the contacts matched. :func:`match_rows` orders rows by
company before cutting chunks, so each company's block is read once.
Services only: it reads, never writes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

import idna
import phonenumbers
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA
from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from portal.dialects import in_values
from portal.matching.companies import (
    COMPANY_FUZZY_THRESHOLD,
    CompanyIndex,
    CompanyMatch,
    clean_domain,
    company_index,
)
from portal.matching.people import (
    DUPLICATE_THRESHOLD,
    load_blocks,
    name_similarity,
)
from portal.models import Company, Contact, ContactState
from portal.normalise import (
    FieldProblem,
    normalise_country,
    normalise_person_name,
)
from portal.textfold import company_key, fold, name_key

# The contacts a list can be matched to.
MATCHABLE_STATES = ContactState.matchable_states()
# The fields compared per matched row, in report order.
COMPARED_FIELDS = ("email", "phone", "title", "city", "country")
# A row matches a contact by name alone from this score, when no other
# contact of the company scores within AMBIGUITY_MARGIN of it; from
# DUPLICATE_THRESHOLD up, or when two are that close, it is only possible.
MATCH_SCORE = 80.0
AMBIGUITY_MARGIN = 5.0
# Confidence of a match by email (names agreeing) and by phone.
EMAIL_CONFIDENCE = 100
PHONE_CONFIDENCE = 95
# Confidence given to an email or phone hit whose names disagree (possible).
DISAGREEING_NAME_CONFIDENCE = 50
# Rows read per chunk by match_rows.
CHUNK_ROWS = 5_000


class MatchStatus(enum.StrEnum):
    MATCHED = "matched"
    MOVED = "moved"
    POSSIBLE = "possible"
    NOT_FOUND = "not_found"
    INVALID = "invalid"


class FieldStatus(enum.StrEnum):
    # Theirs and ours agree.
    SAME = "same"
    # We hold another value.
    DIFFERENT = "different"
    # We hold a value, they have none.
    ADDED = "added"
    # We hold none.
    MISSING = "missing"


@dataclass(frozen=True)
class ListRow:
    """What one customer row says, as text ("" for absent). ``problem`` is a
    reason the row cannot be used (a formula, an over-long cell)."""

    first_name: str = ""
    last_name: str = ""
    company: str = ""
    company_domain: str = ""
    email: str = ""
    phone: str = ""
    title: str = ""
    city: str = ""
    country: str = ""
    problem: str | None = None


@dataclass(frozen=True)
class RowMatch:
    """The outcome for one row.

    ``contact_id`` is the matched (or possible) contact; ``fields`` (matched
    and moved rows only) says per compared field how ours relates to theirs;
    ``ours`` holds our values of the compared fields and ``company``; ``how``
    is the signal that decided ("email", "phone", "name"); ``reason`` says in
    words why a row is invalid, not found, possible or moved.
    """

    status: MatchStatus
    confidence: int = 0
    contact_id: int | None = None
    how: str = ""
    reason: str = ""
    fields: dict[str, FieldStatus] = field(default_factory=dict)
    ours: dict[str, str] = field(default_factory=dict)

    def changes(self, theirs: ListRow) -> list[tuple[str, str, str]]:
        """(field, theirs, ours) for every field we add or hold differently,
        and the company for a person who moved."""
        found = [
            (name, getattr(theirs, name), self.ours.get(name, ""))
            for name, status in self.fields.items()
            if status in (FieldStatus.DIFFERENT, FieldStatus.ADDED)
        ]
        if self.status is MatchStatus.MOVED:
            found.append(("company", theirs.company, self.ours.get("company", "")))
        return found


@dataclass
class _Prepared:
    """A row's values in the forms compared."""

    row: ListRow
    first: str = ""
    last: str = ""
    email: str | None = None
    phone: str | None = None
    country: str | None = None
    company: CompanyMatch | None = None
    invalid: str | None = None


@dataclass(frozen=True)
class _Person:
    id: int
    company_id: int
    # The state's value: equal to the ContactState member.
    state: str
    successor_id: int | None
    first: str
    last: str


class BatchMatcher:
    """Matches chunks of rows against one database's pool.

    Keeps the company resolutions it has made (rows of a list repeat their
    companies) for its lifetime: make one per list run.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._companies: dict[tuple[str, str, str], CompanyMatch | None] = {}
        self._names: dict[tuple[str, str], str] = {}
        # The company index, fetched once per chunk (it checks for changes).
        self._index: CompanyIndex | None = None

    # --- preparing rows ---------------------------------------------------------

    def prepare(self, row: ListRow) -> _Prepared:
        """The row normalised and its company resolved (from the in-process
        company index, no query)."""
        prepared = _Prepared(row)
        if row.problem:
            prepared.invalid = row.problem
            return prepared
        prepared.first = self._name(row.first_name, "first name")
        prepared.last = self._name(row.last_name, "last name")
        prepared.email = _email(row.email)
        prepared.country = _country(row.country)
        prepared.phone = _phone(row.phone, prepared.country)
        has_name = bool(prepared.first and prepared.last)
        if not prepared.first and not prepared.last:
            prepared.invalid = "no name"
        elif not has_name and not (prepared.email or prepared.phone):
            missing = "first name" if not prepared.first else "last name"
            prepared.invalid = f"no {missing}, and no email or phone to match on"
        elif not (
            row.company or row.company_domain or prepared.email or prepared.phone
        ):
            prepared.invalid = "no company, email or phone"
        if prepared.invalid:
            return prepared
        email_domain = prepared.email.rpartition("@")[2] if prepared.email else ""
        key = (row.company, row.company_domain, email_domain)
        if key not in self._companies:
            domain = clean_domain(row.company_domain) if row.company_domain else ""
            if self._index is None:
                self._index = company_index(self.session)
            self._companies[key] = self._index.resolve(
                name=row.company or None,
                domain=domain or None,
                email_domain=email_domain or None,
            )
        prepared.company = self._companies[key]
        return prepared

    def _name(self, text: str, part: str) -> str:
        """A typed name folded as compared, honorifics and suffixes ("Dr.",
        "Jr") dropped; names repeat, so each is worked out once."""
        key = (text, part)
        folded = self._names.get(key)
        if folded is None:
            folded = self._names[key] = _name(text, part)
        return folded

    # --- matching a chunk ---------------------------------------------------------

    def match_chunk(self, rows: Sequence[_Prepared]) -> list[RowMatch]:
        """The outcome of each prepared row, in order, reading the pool in a
        fixed handful of queries."""
        self._index = None
        live = [p for p in rows if not p.invalid]
        bind = self.session.get_bind()
        people = self._people_by(
            Contact.email, {p.email for p in live if p.email}, bind
        )
        by_email = dict(people)
        phones = self._people_by(
            Contact.phone, {p.phone for p in live if p.phone}, bind
        )
        by_phone: dict[str, list[_Person]] = {}
        for phone, person in phones:
            by_phone.setdefault(phone, []).append(person)
        successor_ids = {
            person.successor_id
            for person in [*by_email.values(), *(p for _, p in phones)]
            if person.state not in MATCHABLE_STATES and person.successor_id
        }
        successors = {
            person.id: person
            for _, person in self._people_by(Contact.id, successor_ids, bind)
        }
        blocks = load_blocks(
            self.session, [p.company.company_id for p in live if p.company]
        )
        decisions: list[RowMatch] = []
        for prepared in rows:
            if prepared.invalid:
                decisions.append(RowMatch(MatchStatus.INVALID, reason=prepared.invalid))
                continue
            decisions.append(
                self._decide(prepared, by_email, by_phone, successors, blocks)
            )
        return self._with_fields(rows, decisions)

    def _people_by(self, column, values: set, bind) -> list[tuple[object, _Person]]:
        if not values:
            return []
        result = self.session.connection().execute(
            select(
                column,
                Contact.id,
                Contact.company_id,
                type_coerce(Contact.state, String).label("state"),
                Contact.successor_id,
                Contact.first_name,
                Contact.last_name,
            ).where(in_values(bind, column, sorted(values)))
        )
        return [
            (
                row[0],
                _Person(
                    row.id,
                    row.company_id,
                    row.state,
                    row.successor_id,
                    name_key(row.first_name),
                    name_key(row.last_name),
                ),
            )
            for row in result
        ]

    def _decide(self, prepared, by_email, by_phone, successors, blocks) -> RowMatch:
        company_id = prepared.company.company_id if prepared.company else None
        hits: list[tuple[str, _Person | None]] = []
        if prepared.email:
            hits.append(("email", by_email.get(prepared.email)))
        if prepared.phone:
            holders = by_phone.get(prepared.phone, [])
            hits.append(("phone", holders[0] if len(holders) == 1 else None))
        for how, person in hits:
            if person is None:
                continue
            if person.state not in MATCHABLE_STATES:
                person = successors.get(person.successor_id)
                if person is None or person.state not in MATCHABLE_STATES:
                    continue
                moved_on = True
            else:
                moved_on = False
            agrees = self._names_agree(prepared, person)
            if how == "phone" and not agrees:
                # A shared line (a switchboard) says nothing about the person.
                continue
            confidence = EMAIL_CONFIDENCE if how == "email" else PHONE_CONFIDENCE
            if not agrees:
                return RowMatch(
                    MatchStatus.POSSIBLE,
                    DISAGREEING_NAME_CONFIDENCE,
                    person.id,
                    how,
                    f"the {how} is a contact's whose name differs",
                )
            if not moved_on and self._same_company(prepared, person, company_id):
                return RowMatch(MatchStatus.MATCHED, confidence, person.id, how)
            return RowMatch(
                MatchStatus.MOVED,
                confidence - 5,
                person.id,
                how,
                f"found by {how} at another company",
            )
        if company_id is None:
            return RowMatch(MatchStatus.NOT_FOUND, reason="company not known")
        block = blocks[company_id]
        ranked = block.rank(
            prepared.first, prepared.last, states=MATCHABLE_STATES, thorough=False
        )
        if not ranked:
            return RowMatch(
                MatchStatus.NOT_FOUND,
                reason=f"nobody by that name at {block.company_name}",
            )
        score, position = ranked[0]
        contact_id = block.ids[position]
        ambiguous = len(ranked) > 1 and score - ranked[1][0] < AMBIGUITY_MARGIN
        if ambiguous:
            return RowMatch(
                MatchStatus.POSSIBLE,
                round(score),
                contact_id,
                "name",
                "more than one contact by that name",
            )
        if score < MATCH_SCORE:
            return RowMatch(
                MatchStatus.POSSIBLE, round(score), contact_id, "name", "a close name"
            )
        return RowMatch(MatchStatus.MATCHED, round(score), contact_id, "name")

    @staticmethod
    def _names_agree(prepared: _Prepared, person: _Person) -> bool:
        """Whether the row's name may be the person's (typos, swaps, initials,
        nicknames); with only one part given, that part within one edit."""
        first, last = prepared.first, prepared.last
        if first and last:
            score = max(
                name_similarity(first, last, person.first, person.last),
                name_similarity(last, first, person.first, person.last),
            )
            return score >= DUPLICATE_THRESHOLD
        given = first or last
        return (
            min(OSA.distance(given, person.first), OSA.distance(given, person.last))
            <= 1
        )

    def _same_company(
        self, prepared: _Prepared, person: _Person, company_id: int | None
    ) -> bool:
        if company_id is not None:
            return company_id == person.company_id
        # The row's company is unknown to us or blank: the person's company
        # counts as theirs unless the row names a clearly different one.
        if not prepared.row.company:
            return True
        index = self._index or company_index(self.session)
        position = index.position_of(person.company_id)
        if position is None:
            return False
        return (
            fuzz.ratio(company_key(prepared.row.company), index.keys[position])
            >= COMPANY_FUZZY_THRESHOLD
        )

    # --- comparing fields -----------------------------------------------------

    def _with_fields(
        self, rows: Sequence[_Prepared], decisions: list[RowMatch]
    ) -> list[RowMatch]:
        ids = {
            d.contact_id
            for d in decisions
            if d.contact_id is not None
            and d.status in (MatchStatus.MATCHED, MatchStatus.MOVED)
        }
        if not ids:
            return decisions
        details = {
            row.id: row
            for row in self.session.connection().execute(
                select(
                    Contact.id,
                    Contact.email,
                    Contact.phone,
                    Contact.title,
                    Contact.city,
                    Contact.country,
                    Company.name.label("company"),
                )
                .join(Company, Company.id == Contact.company_id)
                .where(in_values(self.session.get_bind(), Contact.id, sorted(ids)))
            )
        }
        finished = []
        for prepared, decision in zip(rows, decisions, strict=True):
            found = details.get(decision.contact_id) if decision.contact_id else None
            if found is None or decision.status not in (
                MatchStatus.MATCHED,
                MatchStatus.MOVED,
            ):
                finished.append(decision)
                continue
            ours = {
                "email": found.email or "",
                "phone": found.phone or "",
                "title": found.title or "",
                "city": found.city or "",
                "country": found.country or "",
                "company": found.company,
            }
            fields = {
                name: _compare(name, prepared, ours[name]) for name in COMPARED_FIELDS
            }
            finished.append(
                RowMatch(
                    decision.status,
                    decision.confidence,
                    decision.contact_id,
                    decision.how,
                    decision.reason,
                    fields,
                    ours,
                )
            )
        return finished


def match_rows(
    session: Session, rows: Iterable[ListRow], *, chunk_rows: int = CHUNK_ROWS
) -> list[RowMatch]:
    """The outcome of every row, in the rows' order.

    Rows are prepared first, then matched in chunks of ``chunk_rows`` taken
    in company order, so that a company's contacts are read once per run
    rather than once per chunk its rows fall in.
    """
    matcher = BatchMatcher(session)
    prepared = [matcher.prepare(row) for row in rows]
    order = sorted(
        range(len(prepared)),
        key=lambda i: prepared[i].company.company_id if prepared[i].company else -1,
    )
    results: list[RowMatch | None] = [None] * len(prepared)
    for start in range(0, len(order), chunk_rows):
        chunk = order[start : start + chunk_rows]
        decided = matcher.match_chunk([prepared[i] for i in chunk])
        for i, decision in zip(chunk, decided, strict=True):
            results[i] = decision
    return results  # type: ignore[return-value]


# --- normalising a row's values -------------------------------------------------


def _name(text: str, part: str) -> str:
    text = text.strip()
    if not text:
        return ""
    # Honorifics, letters after the name and initials come with a dot or a
    # comma ("Dr. Mary", "Smith, CPA", "J."); "Koch II" stays as the pool
    # holds it.
    if "." in text or "," in text:
        with suppress(FieldProblem):
            text = normalise_person_name(text, part=part)
    return name_key(text)


def _email(text: str) -> str | None:
    """The address as stored (lower case, an internationalised domain in
    punycode), or None for one that cannot be an address. Lighter than
    ``normalise_email``: a match needs the form, not the syntax verdict."""
    text = text.strip().lower().removeprefix("mailto:").strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or " " in text:
        return None
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    return f"{local}@{domain}"


def _country(text: str) -> str | None:
    if not text.strip():
        return None
    try:
        return normalise_country(text)
    except FieldProblem:
        return None


def _phone(text: str, country: str | None) -> str | None:
    """E.164, or None for a number that cannot be read (mobiles are fine
    here: the row is the customer's, we only look the number up)."""
    if not text.strip():
        return None
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _compare(name: str, prepared: _Prepared, ours: str) -> FieldStatus:
    theirs = getattr(prepared.row, name).strip()
    if not ours:
        return FieldStatus.MISSING
    if not theirs:
        return FieldStatus.ADDED
    if name == "email":
        same = prepared.email == ours
    elif name == "phone":
        same = prepared.phone == ours
    elif name == "country":
        same = (prepared.country or theirs.upper()) == ours
    elif name == "city":
        same = name_key(theirs) == name_key(ours)
    else:
        same = " ".join(fold(theirs).split()) == " ".join(fold(ours).split())
    return FieldStatus.SAME if same else FieldStatus.DIFFERENT


# --- near duplicates within the pool --------------------------------------------


@dataclass(frozen=True)
class DuplicateCluster:
    """Contacts of one company who are probably one person: their ids,
    oldest first, and the matcher's score for each linked pair."""

    company_id: int
    company_name: str
    contact_ids: tuple[int, ...]
    scores: tuple[tuple[int, int, float], ...]


def near_duplicate_clusters(
    session: Session, company_ids: Sequence[int]
) -> list[DuplicateCluster]:
    """The clusters of likely duplicates among the live contacts of
    ``company_ids``, read in one go as the batch matcher reads a chunk's
    companies (:func:`portal.matching.people.load_blocks`), each contact
    compared with its colleagues by :meth:`Block.near_duplicates`. Pairs
    linked through a third contact fall in one cluster."""
    clusters: list[DuplicateCluster] = []
    for company_id, block in load_blocks(session, list(company_ids)).items():
        pairs: dict[tuple[int, int], float] = {}
        for position in range(len(block.ids) if len(block.ids) > 1 else 0):
            for score, other in block.near_duplicates(position):
                pairs.setdefault((min(position, other), max(position, other)), score)
        if pairs:
            clusters.extend(_clusters(company_id, block, pairs))
    return clusters


def _clusters(company_id: int, block, pairs: dict[tuple[int, int], float]):
    """Pairs of positions joined into connected groups (union-find)."""
    parent: dict[int, int] = {}

    def root(position: int) -> int:
        parent.setdefault(position, position)
        while parent[position] != position:
            parent[position] = parent[parent[position]]
            position = parent[position]
        return position

    for a, b in pairs:
        parent[root(b)] = root(a)
    groups: dict[int, list[tuple[int, int, float]]] = {}
    for (a, b), score in pairs.items():
        groups.setdefault(root(a), []).append((a, b, score))
    # Positions follow contact ids (blocks are read in id order).
    return [
        DuplicateCluster(
            company_id=company_id,
            company_name=block.company_name,
            contact_ids=tuple(
                sorted({block.ids[p] for a, b, _ in links for p in (a, b)})
            ),
            scores=tuple(
                sorted(
                    (block.ids[a], block.ids[b], round(score, 1))
                    for a, b, score in links
                )
            ),
        )
        for links in groups.values()
    ]
