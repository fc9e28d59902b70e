"""Which company a member means, and whether the person they enter is known.

Used while a member contributes a contact: the form suggests companies and
warns of likely duplicates as they type, and a submission that looks like a
known person asks "same person or different?". Services only: they take a
session and plain values and read; they never write.

How it stays fast at a million contacts (``bench/dedupe.py`` measures it):

* Companies (tens of thousands) sit in an in-process index per database
  engine: folded names and domains, sorted for prefix look-ups. Exact domain
  and name look-ups go to the database first, so a company created a moment
  ago (by the previous row of a CSV file, say) is found at once.
* People are compared only with the live contacts of the same company (the
  ``company_id`` index), in C (rapidfuzz). The largest companies hold tens of
  thousands of contacts, too many to read per keystroke, so their folded
  names stay in process and are checked against a count on every use.

Names are compared ASCII-folded ("Müller" = "Mueller"), lower case, without
punctuation. A person's score counts edits (optimal string alignment: a
wrong, missing or extra letter, or two swapped letters, each cost one) over
first and last name, in the typed order or swapped, whichever is closer:
``100 * (1 - edits / letters)``.
"""

from __future__ import annotations

import re
import threading
import time
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal
from weakref import WeakKeyDictionary

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from portal.masking import mask_email
from portal.models import Company, CompanyDomain, Contact, ContactState
from portal.textfold import (
    company_full_name,
    company_key,
    name_key,
    normalise_company_name,
)

# A person is a likely duplicate when the names are at most MAX_EDITS edits
# apart and score at least DUPLICATE_THRESHOLD (so a short name allows one
# edit), unless a typed name is a colleague's real name (see _Block.score).
# Chosen with bench/dedupe.py on 1,000,000 contacts (seeds 1 and 2, 1,000
# typo'd known and 1,000 novel people each): recall / precision were
# 0.986 / 0.995 and 0.986 / 0.993. Without the edit limit, 75 let novel
# people in ("Kristen Hoover" for Kristen Potter; precision 0.986-0.989) and
# 80 let typo'd ones out (two typos in nine letters score 77.8; recall
# 0.962-0.967); 70 with the limit did no better than 75.
DUPLICATE_THRESHOLD = 75.0
MAX_EDITS = 2
# What a contact whose email has the typed email's local part scores at least.
SAME_LOCAL_PART = 95.0
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
# Companies with at least CACHED_BLOCK_CONTACTS live contacts keep their
# folded names in process, since reading them costs more than a check does. A
# cached company is read again when its count of live contacts changes (so an
# added, removed or graveyarded contact counts at once) and at least every
# BLOCK_MAX_AGE_SECONDS (an edited name, or an addition and a removal between
# two checks, count then). Smaller companies are read on every check.
CACHED_BLOCK_CONTACTS = 2_000
BLOCK_MAX_AGE_SECONDS = 60.0
# The cache keeps the most recently used companies up to this many contacts
# (about 45 MB per process).
BLOCK_CACHE_CONTACTS = 150_000

# The coarse pass keeps this many per name order, from this Indel score up.
_COARSE_LIMIT = 20
_COARSE_CUTOFF = 60
_LIVE_STATES = tuple(s for s in ContactState if s is not ContactState.GRAVEYARD)


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


@dataclass(frozen=True)
class DuplicateCandidate:
    """A contact that may be the person entered, safe to show before reveal:
    its email is masked."""

    contact_id: int
    first_name: str
    last_name: str
    title: str
    company_id: int
    company_name: str
    masked_email: str
    score: float


@dataclass
class DuplicateCheck:
    """What ``find_duplicates`` found."""

    # The contact that has exactly the given email, whatever its state.
    same_email: int | None
    # Likely duplicates by name, best first.
    candidates: list[DuplicateCandidate]


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
    index = _company_index(session)
    scores: dict[int, float] = {}

    def offer(position: int, score: float) -> None:
        if score > scores.get(position, -1.0):
            scores[position] = score

    domain = _clean_domain(text)
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
    domain = _clean_domain(domain)
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
    key = company_key(name)
    if not key:
        return None
    index = _company_index(session)
    exact = index.positions_by_key.get(key, [])
    if len(exact) == 1:
        return CompanyMatch(index.ids[exact[0]], "name", 100.0)
    if exact:
        return None
    # Look below the threshold too: a runner-up just under it still makes the
    # best one ambiguous.
    near = index.names_near(name, 2, COMPANY_FUZZY_THRESHOLD - COMPANY_FUZZY_MARGIN)
    if not near or near[0][1] < COMPANY_FUZZY_THRESHOLD:
        return None
    (position, score), runner_up = near[0], near[1][1] if len(near) > 1 else 0.0
    if score - runner_up < COMPANY_FUZZY_MARGIN:
        return None
    return CompanyMatch(index.ids[position], "fuzzy_name", round(score, 1))


def _clean_domain(text: str) -> str:
    """The bare domain in ``text``: a URL's host, an email's domain, or itself.

    "https://www.Acme.com/about" -> "acme.com"; "jo@acme.com" -> "acme.com".
    """
    text = text.strip().lower().rpartition("@")[2]
    text = re.sub(r"^[a-z]+://", "", text).split("/", 1)[0]
    return text.removeprefix("www.").strip(".")


@dataclass(frozen=True)
class _CompanyIndex:
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

    @classmethod
    def load(cls, session: Session) -> _CompanyIndex:
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
        )

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


def _starting(pairs: list[tuple[str, int]], prefix: str, limit: int = 50):
    start = bisect_left(pairs, (prefix,))
    for text, position in pairs[start : start + limit]:
        if not text.startswith(prefix):
            break
        yield text, position


@dataclass
class _IndexSlot:
    lock: threading.Lock
    index: _CompanyIndex | None = None
    signature: tuple | None = None
    loaded_at: float = 0.0
    checked_at: float = 0.0


_company_indexes: WeakKeyDictionary[Engine, _IndexSlot] = WeakKeyDictionary()
_registry_lock = threading.Lock()


def _company_index(session: Session) -> _CompanyIndex:
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
            slot.index = _CompanyIndex.load(session)
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


# --- people ------------------------------------------------------------------


def find_duplicates(
    session: Session,
    *,
    first_name: str,
    last_name: str,
    company_id: int | None,
    company_name: str | None = None,
    email: str | None = None,
    exclude_contact_id: int | None = None,
    limit: int = 5,
) -> DuplicateCheck:
    """Contacts that are probably the person described, best first.

    ``same_email`` is the contact with exactly ``email`` (compared lower-case),
    in any state. ``candidates`` are non-graveyard contacts of the company
    (``company_id``, else the one ``company_name`` resolves to, fuzzily; none
    if it resolves to none) whose name scores at least
    ``DUPLICATE_THRESHOLD``, at most ``limit``, with masked emails, ties
    oldest contact first. When an email is given, a contact whose email has
    the same local part scores at least ``SAME_LOCAL_PART`` whatever its name.
    ``exclude_contact_id`` (the contact being edited) is never returned, nor
    is the ``same_email`` contact among the candidates.
    """
    same_email = None
    email = (email or "").strip().lower()
    if email:
        query = select(Contact.id).where(Contact.email == email)
        if exclude_contact_id is not None:
            query = query.where(Contact.id != exclude_contact_id)
        same_email = session.scalar(query)
    if company_id is None and company_name:
        match = resolve_company(
            session, name=company_name, domain=None, email_domain=None
        )
        company_id = match.company_id if match else None
    if company_id is None:
        return DuplicateCheck(same_email, [])
    block = _company_block(session, company_id)
    local_part = email.rpartition("@")[0] if "@" in email else None
    candidates = [
        candidate
        for candidate in block.candidates(
            name_key(first_name), name_key(last_name), local_part
        )
        if candidate.contact_id not in (exclude_contact_id, same_email)
    ]
    return DuplicateCheck(same_email, candidates[:limit])


@dataclass(frozen=True)
class _Block:
    """The live contacts of one company, as parallel lists, folded for scoring."""

    company_id: int
    company_name: str
    loaded_at: float
    ids: list[int]
    first_names: list[str]
    last_names: list[str]
    titles: list[str]
    masked_emails: list[str]
    local_parts: list[str]
    # Folded.
    firsts: list[str]
    lasts: list[str]
    # "first last", folded: what the coarse first pass compares.
    names: list[str]
    # Every folded first and every folded last name at the company.
    known_firsts: frozenset[str]
    known_lasts: frozenset[str]

    def candidates(
        self, first: str, last: str, local_part: str | None
    ) -> list[DuplicateCandidate]:
        """Contacts scoring at least the threshold, best first."""
        scores: dict[int, float] = {}
        # A coarse pass in C (Indel similarity of the whole name, both orders)
        # keeps a few positions; only those get the slower, finer score.
        for typed in dict.fromkeys((f"{first} {last}", f"{last} {first}")):
            for _, _, position in process.extract(
                typed,
                self.names,
                scorer=fuzz.ratio,
                processor=None,
                limit=_COARSE_LIMIT,
                score_cutoff=_COARSE_CUTOFF,
            ):
                scores[position] = max(
                    self.score(position, first, last), self.score(position, last, first)
                )
        if local_part:
            for position, known_local in enumerate(self.local_parts):
                if known_local == local_part:
                    scores[position] = max(scores.get(position, 0.0), SAME_LOCAL_PART)
        # Ties: the older contact first.
        ranked = sorted(
            (-score, self.ids[position], position)
            for position, score in scores.items()
            if score >= DUPLICATE_THRESHOLD
        )
        return [
            DuplicateCandidate(
                contact_id=contact_id,
                first_name=self.first_names[position],
                last_name=self.last_names[position],
                title=self.titles[position],
                company_id=self.company_id,
                company_name=self.company_name,
                masked_email=self.masked_emails[position],
                score=round(-negative_score, 1),
            )
            for negative_score, contact_id, position in ranked
        ]

    def score(self, position: int, first: str, last: str) -> float:
        """How likely the typed first and last name are this contact's, 0-100.

        100 minus the share of letters edited, over both names; 0 beyond
        ``MAX_EDITS`` edits, or if a typed name differs from this contact's
        and is another contact's name of the same kind here ("Joan", when a
        Joan works at the company, is not a typo of "John"). A typed initial
        matches a first name with that initial, scoring 90% of the last
        name's similarity.
        """
        known_first, known_last = self.firsts[position], self.lasts[position]
        if last != known_last and last in self.known_lasts:
            return 0.0
        if len(first) == 1 or len(known_first) == 1:
            if first[:1] != known_first[:1]:
                return 0.0
            return 90 * OSA.normalized_similarity(last, known_last)
        if first != known_first and first in self.known_firsts:
            return 0.0
        edits = OSA.distance(first, known_first) + OSA.distance(last, known_last)
        if edits > MAX_EDITS:
            return 0.0
        letters = max(len(first), len(known_first)) + max(len(last), len(known_last))
        return 100 * (1 - edits / letters)


class _BlockCache:
    """Large companies' blocks, most recently used first, up to a budget."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blocks: OrderedDict[int, _Block] = OrderedDict()
        self.contacts = 0

    def get(self, company_id: int) -> _Block | None:
        """The company's block, unless it is older than the maximum age."""
        with self.lock:
            block = self.blocks.get(company_id)
            if block is None:
                return None
            if time.monotonic() - block.loaded_at > BLOCK_MAX_AGE_SECONDS:
                self._drop(company_id)
                return None
            self.blocks.move_to_end(company_id)
            return block

    def put(self, company_id: int, block: _Block) -> None:
        with self.lock:
            if company_id in self.blocks:
                self._drop(company_id)
            self.blocks[company_id] = block
            self.contacts += len(block.ids)
            while self.contacts > BLOCK_CACHE_CONTACTS and len(self.blocks) > 1:
                self._drop(next(iter(self.blocks)))

    def _drop(self, company_id: int) -> None:
        self.contacts -= len(self.blocks.pop(company_id).ids)


_block_caches: WeakKeyDictionary[Engine, _BlockCache] = WeakKeyDictionary()


def _company_block(session: Session, company_id: int) -> _Block:
    """The company's live contacts: cached for large companies, else read."""
    live = (Contact.company_id == company_id) & Contact.state.in_(_LIVE_STATES)
    with _registry_lock:
        cache = _block_caches.setdefault(session.get_bind(), _BlockCache())
    block = cache.get(company_id)
    # Counting reads the (state, company_id) index only: far cheaper than
    # reading the rows again.
    if block is not None and len(block.ids) == session.scalar(
        select(func.count()).select_from(Contact).where(live)
    ):
        return block
    rows = session.execute(
        select(
            Contact.id,
            Contact.first_name,
            Contact.last_name,
            Contact.title,
            Contact.email,
            Company.name,
        )
        .join(Company, Company.id == Contact.company_id)
        .where(live)
    ).all()
    # Names, titles and masked emails repeat a lot within a company: keep
    # one copy of each (a cached block of 30,000 contacts then takes ~9 MB)
    # and fold each distinct name once.
    shared: dict[str, str] = {}
    folded: dict[str, str] = {}

    def share(text: str) -> str:
        return shared.setdefault(text, text)

    def fold(name: str) -> str:
        if name not in folded:
            folded[name] = share(name_key(name))
        return folded[name]

    first_names = [share(row.first_name) for row in rows]
    last_names = [share(row.last_name) for row in rows]
    firsts = [fold(name) for name in first_names]
    lasts = [fold(name) for name in last_names]
    block = _Block(
        company_id=company_id,
        company_name=rows[0].name if rows else "",
        loaded_at=time.monotonic(),
        ids=[row.id for row in rows],
        first_names=first_names,
        last_names=last_names,
        titles=[share(row.title) for row in rows],
        masked_emails=[share(mask_email(row.email)) for row in rows],
        local_parts=[row.email.rpartition("@")[0] for row in rows],
        firsts=firsts,
        lasts=lasts,
        names=[f"{first} {last}" for first, last in zip(firsts, lasts, strict=True)],
        known_firsts=frozenset(firsts),
        known_lasts=frozenset(lasts),
    )
    if len(rows) >= CACHED_BLOCK_CONTACTS:
        cache.put(company_id, block)
    return block
