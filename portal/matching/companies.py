"""Which company a name, domain or email points to: one in-process index.

Used by the duplicate check while a member contributes (the form suggests
companies as they type), and by the batch matcher for list rows. Services
only: they take a session and plain values and read; they never write.

Companies (tens of thousands) sit in an in-process index per database engine:
folded names, domains and alias domains, sorted for prefix look-ups.
:func:`resolve_company` looks exact domains and names up in the database
first, so a company created a moment ago (by the previous row of a CSV file,
say) is found at once; :meth:`CompanyIndex.resolve` answers from the index
alone, for the batch matcher's thousands of rows a second.
"""

from __future__ import annotations

import re
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Literal
from weakref import WeakKeyDictionary

from rapidfuzz import fuzz, process
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from portal.models import Company, CompanyDomain
from portal.textfold import company_full_name, company_key, normalise_company_name

# A typed company name that matches no company exactly resolves to the one
# whose name (normalised or in full) has a rapidfuzz ratio of at least
# COMPANY_FUZZY_THRESHOLD, and only when it is COMPANY_FUZZY_MARGIN ahead of
# the runner-up (else the name is ambiguous: no match). On 5,000 one-typo
# names of the bench's 20,000 companies: 99.0% resolve right, 0.06% to
# another company, 1% to none; a margin of 5 left 1.5% more unresolved and
# wronged as many.
COMPANY_FUZZY_THRESHOLD = 80.0
COMPANY_FUZZY_MARGIN = 3.0
# Suggestions go down to this score.
SUGGESTION_THRESHOLD = 60.0

# The company index notices added or removed companies and domains within
# INDEX_CHECK_SECONDS (it compares count and max(id) that often), and any
# other change (a rename, a new primary domain) within INDEX_MAX_AGE_SECONDS,
# when it is rebuilt whatever the comparison says.
INDEX_CHECK_SECONDS = 5.0
INDEX_MAX_AGE_SECONDS = 300.0


# A typed company name one edit from a company's scores at least this (a
# one-letter slip in a ten-letter name scores 90) when taken without
# comparing every company.
_SURE_TYPO = 90.0
# A company column holding a domain ("acme.com", "www.acme.co.uk").
_BARE_DOMAIN = re.compile(r"(?i)(?:https?://)?(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+/?")


@dataclass(frozen=True)
class CompanySuggestion:
    """A company to offer; ``score`` 100 for an exact name or domain, 90-100
    for one starting with what was typed, lower for one a typo away."""

    id: int
    name: str
    domain: str
    score: float


@dataclass(frozen=True)
class CompanyMatch:
    """The company details resolved to, how, and how closely (100: exactly)."""

    company_id: int
    how: Literal["domain", "alias", "name", "fuzzy_name", "email_domain"]
    score: float


# --- companies ---------------------------------------------------------------


def suggest_companies(
    session: Session, text: str, limit: int = 8
) -> list[CompanySuggestion]:
    """Companies the member may mean by ``text``, a name or domain being typed.

    At most ``limit``, best first: an exact domain, alias domain or name
    (100), then names and domains that start with what was typed (90-100),
    then, if those are fewer than ``limit``, names within typing distance
    (down to ``SUGGESTION_THRESHOLD``). Each company appears once. Reads only
    the company index, which may miss a company added in the last
    ``INDEX_CHECK_SECONDS`` or renamed in the last ``INDEX_MAX_AGE_SECONDS``.
    """
    index = company_index(session)
    scores: dict[int, float] = {}

    def offer(position: int, score: float) -> None:
        if score > scores.get(position, -1.0):
            scores[position] = score

    domain = clean_domain(text)
    if "." in domain:
        for position, score in index.domains_starting(domain):
            offer(position, score)
    if company_key(text):
        for position, score in index.names_starting(text):
            offer(position, score)
        # Enough names start with what was typed: no need to guess at typos.
        if len(scores) < limit:
            for position, score in index.names_near(text, limit, SUGGESTION_THRESHOLD):
                offer(position, score)
    best = sorted(scores.items(), key=lambda item: (-item[1], index.names[item[0]]))
    return [
        CompanySuggestion(
            id=index.ids[position],
            name=index.names[position],
            domain=index.domains[position],
            score=round(score, 1),
        )
        for position, score in best[:limit]
    ]


def resolve_company(
    session: Session,
    *,
    name: str | None,
    domain: str | None,
    email_domain: str | None,
) -> CompanyMatch | None:
    """The one company these details point to, or None.

    In order: ``domain`` equal to a company's domain ("domain") or to one of
    its alias domains ("alias"); ``name`` equal, once normalised, to one
    company's name ("name"); ``name`` within typing distance of one company's
    name ("fuzzy_name": scoring at least ``COMPANY_FUZZY_THRESHOLD`` and at
    least ``COMPANY_FUZZY_MARGIN`` ahead of the runner-up); ``email_domain``
    equal to a company's domain or alias ("email_domain"). Exact look-ups read
    the database; fuzzy ones the company index (seconds stale at most).
    """
    if domain and (found := _company_by_domain(session, domain)):
        return CompanyMatch(found[0], found[1], 100.0)
    if name and (match := _company_by_name(session, name)):
        return match
    if email_domain and (found := _company_by_domain(session, email_domain)):
        return CompanyMatch(found[0], "email_domain", 100.0)
    return None


def _company_by_domain(
    session: Session, domain: str
) -> tuple[int, Literal["domain", "alias"]] | None:
    domain = clean_domain(domain)
    company_id = session.scalar(select(Company.id).where(Company.domain == domain))
    if company_id is not None:
        return company_id, "domain"
    company_id = session.scalar(
        select(CompanyDomain.company_id).where(CompanyDomain.domain == domain)
    )
    if company_id is not None:
        return company_id, "alias"
    return None


def _company_by_name(session: Session, name: str) -> CompanyMatch | None:
    ids = session.scalars(
        select(Company.id)
        .where(Company.normalised_name == normalise_company_name(name))
        .limit(2)
    ).all()
    if len(ids) == 1:
        return CompanyMatch(ids[0], "name", 100.0)
    return company_index(session).company_by_name(name)


def clean_domain(text: str) -> str:
    """The bare domain in ``text``: a URL's host, an email's domain, or itself.

    "https://www.Acme.com/about" -> "acme.com"; "jo@acme.com" -> "acme.com".
    """
    text = text.strip().lower().rpartition("@")[2]
    text = re.sub(r"^[a-z]+://", "", text).split("/", 1)[0]
    return text.removeprefix("www.").strip(".")


@dataclass(frozen=True)
class CompanyIndex:
    """Every company, as parallel lists by position, with look-up tables."""

    ids: list[int]
    names: list[str]
    domains: list[str]
    keys: list[str]
    full_names: list[str]
    positions_by_key: dict[str, list[int]]
    # Sorted (text, position) pairs for prefix look-ups: normalised and full
    # names; domains and alias domains.
    sorted_names: list[tuple[str, int]]
    sorted_domains: list[tuple[str, int]]
    # Domain and alias domain -> position.
    positions_by_domain: dict[str, int]
    # Company id -> position, filled on first use.
    positions_by_id: dict[int, int] = field(default_factory=dict)
    # Names (normalised and in full) and their one-letter deletions ->
    # positions, filled on first use.
    positions_by_variant: dict[str, set[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> CompanyIndex:
        rows = session.execute(
            select(Company.id, Company.name, Company.domain).order_by(Company.id)
        ).all()
        ids = [row.id for row in rows]
        position_of = {company_id: i for i, company_id in enumerate(ids)}
        keys = [company_key(row.name) for row in rows]
        positions_by_key: dict[str, list[int]] = {}
        for position, key in enumerate(keys):
            positions_by_key.setdefault(key, []).append(position)
        domains = [(row.domain, position_of[row.id]) for row in rows]
        aliases = session.execute(
            select(CompanyDomain.company_id, CompanyDomain.domain)
        )
        # An alias of a company added since the first read waits for a reload.
        domains += [
            (a.domain, position_of[a.company_id])
            for a in aliases
            if a.company_id in position_of
        ]
        full_names = [company_full_name(row.name) for row in rows]
        return cls(
            ids=ids,
            names=[row.name for row in rows],
            domains=[row.domain for row in rows],
            keys=keys,
            full_names=full_names,
            positions_by_key=positions_by_key,
            sorted_names=sorted(
                {(key, i) for i, key in enumerate(keys)}
                | {(name, i) for i, name in enumerate(full_names)}
            ),
            sorted_domains=sorted(domains),
            positions_by_domain=dict(domains),
        )

    def resolve(
        self, *, name: str | None, domain: str | None, email_domain: str | None
    ) -> CompanyMatch | None:
        """:func:`resolve_company`'s answer from this index alone (no query).

        ``domain`` and ``email_domain`` are bare lower-case domains. A
        ``name`` that is a domain ("acme.com") is looked up as one too.
        """
        if domain and (position := self.positions_by_domain.get(domain)) is not None:
            how = "domain" if self.domains[position] == domain else "alias"
            return CompanyMatch(self.ids[position], how, 100.0)
        if name and (match := self.company_by_name(name)):
            return match
        if name and _BARE_DOMAIN.fullmatch(name.strip()):
            named = self.positions_by_domain.get(clean_domain(name))
            if named is not None:
                return CompanyMatch(self.ids[named], "domain", 100.0)
        if (
            email_domain
            and (position := self.positions_by_domain.get(email_domain)) is not None
        ):
            return CompanyMatch(self.ids[position], "email_domain", 100.0)
        return None

    def position_of(self, company_id: int) -> int | None:
        """Where the company sits in the parallel lists, None if not there."""
        if not self.positions_by_id:
            # Built whole, then added in one C call: readers never see half.
            self.positions_by_id.update({cid: i for i, cid in enumerate(self.ids)})
        return self.positions_by_id.get(company_id)

    def _one_edit_away(self, key: str, full_name: str) -> CompanyMatch | None:
        """The company a typo away, found through one-letter deletions of the
        names (microseconds, where ``names_near`` compares every company):
        only when it scores ``_SURE_TYPO`` and no other candidate comes within
        ``COMPANY_FUZZY_MARGIN``; None sends the caller to ``names_near``."""
        if not self.positions_by_variant:
            variants: dict[str, set[int]] = {}
            for texts in (self.keys, self.full_names):
                for position, text in enumerate(texts):
                    for variant in _deletions(text):
                        variants.setdefault(variant, set()).add(position)
            self.positions_by_variant.update(variants)
        found: set[int] = set()
        for text in {key, full_name}:
            for variant in _deletions(text):
                found |= self.positions_by_variant.get(variant, set())
        scored = sorted(
            (
                max(
                    fuzz.ratio(key, self.keys[position]),
                    fuzz.ratio(full_name, self.full_names[position]),
                ),
                position,
            )
            for position in found
        )
        if not scored or scored[-1][0] < _SURE_TYPO:
            return None
        score, position = scored[-1]
        if len(scored) > 1 and score - scored[-2][0] < COMPANY_FUZZY_MARGIN:
            return None
        return CompanyMatch(self.ids[position], "fuzzy_name", round(score, 1))

    def company_by_name(self, name: str) -> CompanyMatch | None:
        """The one company called ``name`` once folded ("name"), else the one
        within typing distance, clearly ahead of the runner-up ("fuzzy_name")."""
        key = company_key(name)
        if not key:
            return None
        exact = self.positions_by_key.get(key, [])
        if len(exact) == 1:
            return CompanyMatch(self.ids[exact[0]], "name", 100.0)
        if exact:
            return None
        if found := self._one_edit_away(key, company_full_name(name)):
            return found
        # Look below the threshold too: a runner-up just under it still makes
        # the best one ambiguous.
        near = self.names_near(name, 2, COMPANY_FUZZY_THRESHOLD - COMPANY_FUZZY_MARGIN)
        if not near or near[0][1] < COMPANY_FUZZY_THRESHOLD:
            return None
        (position, score), runner_up = near[0], near[1][1] if len(near) > 1 else 0.0
        if score - runner_up < COMPANY_FUZZY_MARGIN:
            return None
        return CompanyMatch(self.ids[position], "fuzzy_name", round(score, 1))

    def names_starting(self, name: str) -> list[tuple[int, float]]:
        """Companies whose name starts with ``name`` (normalised or in full).

        Scores 90, up to 100 the more of the name it covers.
        """
        found = []
        for typed in {company_key(name), company_full_name(name)} - {""}:
            found += [
                (position, 90 + 10 * len(typed) / len(text))
                for text, position in _starting(self.sorted_names, typed)
            ]
        return found

    def domains_starting(self, domain: str) -> list[tuple[int, float]]:
        return [
            (position, 90 + 10 * len(domain) / len(text))
            for text, position in _starting(self.sorted_domains, domain)
        ]

    def names_near(
        self, name: str, limit: int, cutoff: float
    ) -> list[tuple[int, float]]:
        """Up to ``limit`` companies whose name scores at least ``cutoff``.

        Best first; the score is the better of the normalised names' and the
        full names' similarity.
        """
        scores: dict[int, float] = {}
        for typed, choices in (
            (company_key(name), self.keys),
            (company_full_name(name), self.full_names),
        ):
            for _, score, position in process.extract(
                typed,
                choices,
                scorer=fuzz.ratio,
                processor=None,
                limit=limit,
                score_cutoff=cutoff,
            ):
                scores[position] = max(scores.get(position, 0.0), score)
        return sorted(scores.items(), key=lambda item: -item[1])[:limit]


def _deletions(text: str) -> list[str]:
    return [text] + [text[:i] + text[i + 1 :] for i in range(len(text))]


def _starting(pairs: list[tuple[str, int]], prefix: str, limit: int = 50):
    start = bisect_left(pairs, (prefix,))
    for text, position in pairs[start : start + limit]:
        if not text.startswith(prefix):
            break
        yield text, position


@dataclass
class _IndexSlot:
    lock: threading.Lock
    index: CompanyIndex | None = None
    signature: tuple | None = None
    loaded_at: float = 0.0
    checked_at: float = 0.0


_company_indexes: WeakKeyDictionary[Engine, _IndexSlot] = WeakKeyDictionary()
_registry_lock = threading.Lock()


def company_index(session: Session) -> CompanyIndex:
    """This database's company index, reloaded when companies changed."""
    with _registry_lock:
        slot = _company_indexes.setdefault(
            session.get_bind(), _IndexSlot(threading.Lock())
        )
    with slot.lock:
        now = time.monotonic()
        if slot.index is not None and now - slot.checked_at < INDEX_CHECK_SECONDS:
            return slot.index
        signature = _companies_signature(session)
        if (
            slot.index is None
            or signature != slot.signature
            or now - slot.loaded_at > INDEX_MAX_AGE_SECONDS
        ):
            slot.index = CompanyIndex.load(session)
            slot.signature, slot.loaded_at = signature, now
        slot.checked_at = now
        return slot.index


def _companies_signature(session: Session) -> tuple:
    parts = [
        select(aggregate).scalar_subquery()
        for table in (Company, CompanyDomain)
        for aggregate in (func.count(table.id), func.max(table.id))
    ]
    return tuple(session.execute(select(*parts)).one())
