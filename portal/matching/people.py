"""Whether a person is known: names compared within a company's contacts.

The duplicate check (a member contributing, and the live warning as they
type) and the batch matcher (list rows, ``portal match``) both compare a
typed name with the contacts of one company, a "block", in C (rapidfuzz).
The largest companies hold tens of thousands of contacts, too many to read
per keystroke, so their blocks stay in process and are checked against a
count on every use; :func:`load_blocks` reads any number of companies' blocks
in one query.

Names are compared ASCII-folded ("Müller" = "Mueller"), lower case, without
punctuation. A person's score counts edits (optimal string alignment: a
wrong, missing or extra letter, or two swapped letters, each cost one) over
first and last name, in the typed order or swapped, whichever is closer:
``100 * (1 - edits / letters)``. A first name that is a nickname of the
other ("Bob" and "Robert", from the ``nicknames`` dataset) counts as no edit,
and a typed initial matches a first name with that initial; both score a
little below a full match.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import cache, cached_property
from weakref import WeakKeyDictionary

from nicknames import NickNamer
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import Engine, String, func, select, type_coerce
from sqlalchemy.orm import Session

from portal.dialects import in_values
from portal.masking import mask_email
from portal.matching.companies import company_index, resolve_company
from portal.models import Company, Contact, ContactState
from portal.textfold import name_key

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
# A first name that is a nickname of the other ("Bob", "Robert") or an
# initial scores this share of what the same full name would.
NICKNAME_FACTOR = 0.95
INITIAL_FACTOR = 0.9
# Blocks up to this size are always ranked with the coarse pass over every
# contact; larger ones, for the batch matcher, through a last-name index.
COARSE_PASS_CONTACTS = 2_000
# Nickname variants of a typed first name tried in the coarse pass, at most.
_NICKNAME_VARIANTS = 8


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
    block = load_blocks(session, [company_id])[company_id]
    at_least = {}
    if "@" in email:
        # Read here rather than kept in every block: only this check uses it.
        local_part = email.rpartition("@")[0]
        same_local = session.scalars(
            select(Contact.id).where(
                Contact.company_id == company_id,
                Contact.email.startswith(local_part + "@", autoescape=True),
            )
        )
        at_least = {
            block.positions_by_id[contact_id]: SAME_LOCAL_PART
            for contact_id in same_local
            if contact_id in block.positions_by_id
        }
    ranked = [
        (score, block.ids[position])
        for score, position in block.rank(
            name_key(first_name),
            name_key(last_name),
            at_least=at_least,
            own=block.positions_by_id.get(exclude_contact_id),
        )
        if block.ids[position] not in (exclude_contact_id, same_email)
    ][:limit]
    shown = {
        row.id: row
        for row in session.execute(
            select(
                Contact.id,
                Contact.first_name,
                Contact.last_name,
                Contact.title,
                Contact.email,
            ).where(Contact.id.in_([contact_id for _, contact_id in ranked]))
        )
    }
    candidates = [
        DuplicateCandidate(
            contact_id=contact_id,
            first_name=shown[contact_id].first_name,
            last_name=shown[contact_id].last_name,
            title=shown[contact_id].title,
            company_id=company_id,
            company_name=block.company_name,
            masked_email=mask_email(shown[contact_id].email),
            score=round(score, 1),
        )
        for score, contact_id in ranked
    ]
    return DuplicateCheck(same_email, candidates)


@cache
def _nicknamer() -> NickNamer:
    return NickNamer()


@cache
def same_first_name_variants(first: str) -> frozenset[str]:
    """Folded first names the ``nicknames`` dataset says name the same person
    as ``first``: its nicknames and the names it is a nickname of ("bob" ->
    robert, bobby, bert). Empty for a name the dataset lacks."""
    namer = _nicknamer()
    variants = namer.nicknames_of(first) | namer.canonicals_of(first)
    variants.discard(first)
    return frozenset(name_key(variant) for variant in variants)


def _deletions(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def are_nicknames(first: str, other: str) -> bool:
    """Whether two different folded first names name one person (Bob, Robert)."""
    return other in same_first_name_variants(first)


def name_similarity(first: str, last: str, known_first: str, known_last: str) -> float:
    """How likely the folded typed names are the known ones, 0-100, in the
    typed order: 100 minus the share of letters edited over both names (0
    beyond ``MAX_EDITS``); a nickname's first name costs no edit but scales
    the score by ``NICKNAME_FACTOR``, an initial matching the first letter
    gives ``INITIAL_FACTOR`` of the last name's similarity."""
    if len(first) == 1 or len(known_first) == 1:
        if first[:1] != known_first[:1] or not last:
            return 0.0
        return 100 * INITIAL_FACTOR * OSA.normalized_similarity(last, known_last)
    nickname = first != known_first and are_nicknames(first, known_first)
    first_edits = 0 if nickname else OSA.distance(first, known_first)
    edits = first_edits + OSA.distance(last, known_last)
    if edits > MAX_EDITS:
        return 0.0
    if nickname:
        letters = 2 * max(len(last), len(known_last))
    else:
        letters = max(len(first), len(known_first)) + max(len(last), len(known_last))
    score = 100 * (1 - edits / letters) if letters else 0.0
    return score * NICKNAME_FACTOR if nickname else score


@dataclass
class Block:
    """The live contacts of one company, as parallel lists, folded for scoring."""

    company_id: int
    company_name: str
    loaded_at: float
    ids: list[int]
    # The state's value ("active"): equal to the ContactState member.
    states: list[str]
    # Folded first and last names.
    firsts: list[str]
    lasts: list[str]
    # Every folded first and every folded last name at the company.
    known_firsts: frozenset[str]
    known_lasts: frozenset[str]

    @cached_property
    def names(self) -> list[str]:
        """ "first last", folded: what the coarse pass compares."""
        return [f"{f} {last}" for f, last in zip(self.firsts, self.lasts, strict=True)]

    @cached_property
    def positions_by_id(self) -> dict[int, int]:
        return {contact_id: i for i, contact_id in enumerate(self.ids)}

    @cached_property
    def positions_by_last(self) -> dict[str, list[int]]:
        positions: dict[str, list[int]] = {}
        for position, last in enumerate(self.lasts):
            positions.setdefault(last, []).append(position)
        return positions

    @cached_property
    def positions_by_last_variant(self) -> dict[str, list[int]]:
        """Each last name and its one-letter deletions -> positions: two names
        one edit apart (a wrong, missing, extra or swapped letter) share a key."""
        positions: dict[str, list[int]] = {}
        for last, at in self.positions_by_last.items():
            for variant in _deletions(last):
                positions.setdefault(variant, []).extend(at)
        return positions

    def rank(
        self,
        first: str,
        last: str,
        *,
        at_least: dict[int, float] | None = None,
        states: tuple[ContactState, ...] | None = None,
        thorough: bool = True,
        own: int | None = None,
    ) -> list[tuple[float, int]]:
        """(score, position) of the contacts scoring at least
        ``DUPLICATE_THRESHOLD`` for the folded names, best first, ties the
        older contact first; only contacts in ``states`` when given.

        ``at_least`` raises some positions' scores (other evidence, such as
        the email's local part). ``own`` is the position of the contact
        whose names are typed, when it is one of the block's (a moderator
        looking for its duplicates): its names are not another's.
        ``thorough`` compares the whole name with every contact in a coarse
        first pass (in C); without it a block of more
        than ``COARSE_PASS_CONTACTS`` only scores the contacts whose last name
        is within one edit of a typed name, which misses two typos in one name
        but costs microseconds whatever the company's size.
        """
        positions: set[int] = set()
        if thorough or len(self.ids) <= COARSE_PASS_CONTACTS:
            typed_names = {f"{first} {last}", f"{last} {first}"}
            if len(first) > 1:
                variants = sorted(same_first_name_variants(first))
                typed_names |= {f"{v} {last}" for v in variants[:_NICKNAME_VARIANTS]}
            # A coarse pass in C (Indel similarity of the whole name, both
            # orders and nicknames) keeps a few positions for the finer score.
            for typed in typed_names:
                for _, _, position in process.extract(
                    typed,
                    self.names,
                    scorer=fuzz.ratio,
                    processor=None,
                    limit=_COARSE_LIMIT,
                    score_cutoff=_COARSE_CUTOFF,
                ):
                    positions.add(position)
            # Everyone with a typed name as last name: an initial or a short
            # nickname can fall below the coarse cutoff ("Al Lee", Albert Lee).
            positions.update(
                i for i, known in enumerate(self.lasts) if known in (last, first)
            )
        else:
            index = self.positions_by_last_variant
            for typed in (last, first):
                for variant in _deletions(typed):
                    positions.update(index.get(variant, ()))
        scores = {
            position: max(
                self.score(position, first, last, own),
                self.score(position, last, first, own),
            )
            for position in positions
        }
        for position, floor in (at_least or {}).items():
            scores[position] = max(scores.get(position, 0.0), floor)
        ranked = sorted(
            (-score, self.ids[position], position)
            for position, score in scores.items()
            if score >= DUPLICATE_THRESHOLD
            and (states is None or self.states[position] in states)
        )
        return [(-negative, position) for negative, _, position in ranked]

    def score(
        self, position: int, first: str, last: str, own: int | None = None
    ) -> float:
        """How likely the typed first and last name are this contact's, 0-100
        (see :func:`name_similarity`); 0 if a typed name differs from this
        contact's and is another contact's name of the same kind here ("Joan",
        when a Joan works at the company, is not a typo of "John"; "Bob" is
        still Robert's nickname). When the typed names are the block's own
        contact at ``own``, its own names do not count as another's."""
        known_first, known_last = self.firsts[position], self.lasts[position]
        if last != known_last and (
            last in self.known_lasts
            if own is None
            else self._known(last, self.last_counts, self.lasts[own])
        ):
            return 0.0
        if (
            len(first) > 1
            and len(known_first) > 1
            and first != known_first
            and (
                first in self.known_firsts
                if own is None
                else self._known(first, self.first_counts, self.firsts[own])
            )
            and not are_nicknames(first, known_first)
        ):
            return 0.0
        return name_similarity(first, last, known_first, known_last)

    @staticmethod
    def _known(name: str, counts: Counter, own_name: str) -> bool:
        """Whether a contact here other than the one named ``own_name`` has
        ``name``."""
        return counts.get(name, 0) - (name == own_name) > 0

    @cached_property
    def first_counts(self) -> Counter:
        return Counter(self.firsts)

    @cached_property
    def last_counts(self) -> Counter:
        return Counter(self.lasts)

    def near_duplicates(self, position: int) -> list[tuple[float, int]]:
        """(score, position) of the other contacts here who are probably the
        same person as the one at ``position``, best first: those whose last
        name is within one edit of either of its names (the last-name index,
        microseconds whatever the company's size), scored as :meth:`score`
        scores a typed name, its own names not counting as another's."""
        first, last = self.firsts[position], self.lasts[position]
        index = self.positions_by_last_variant
        near: set[int] = set()
        for typed in (last, first):
            for variant in _deletions(typed):
                near.update(index.get(variant, ()))
        near.discard(position)
        ranked = []
        for other in near:
            score = max(
                self.score(other, first, last, position),
                self.score(other, last, first, position),
            )
            if score >= DUPLICATE_THRESHOLD:
                ranked.append((score, other))
        ranked.sort(key=lambda pair: (-pair[0], pair[1]))
        return ranked


class _BlockCache:
    """Large companies' blocks, most recently used first, up to a budget."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blocks: OrderedDict[int, Block] = OrderedDict()
        self.contacts = 0

    def get(self, company_id: int) -> Block | None:
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

    def put(self, company_id: int, block: Block) -> None:
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
_registry_lock = threading.Lock()


def load_blocks(session: Session, company_ids: list[int]) -> dict[int, Block]:
    """The live contacts of each company, in at most three queries whatever
    the number of companies: cached blocks of large companies are checked
    against one grouped count, the rest are read in one go. A company with
    no live contacts gets an empty block."""
    wanted = list(dict.fromkeys(company_ids))
    with _registry_lock:
        cache = _block_caches.setdefault(session.get_bind(), _BlockCache())
    bind = session.get_bind()
    # Core rows: the ORM's row handling would cost more than the reading.
    connection = session.connection()
    live = Contact.state.in_(ContactState.duplicate_checked_states())
    blocks: dict[int, Block] = {}
    cached = {cid: block for cid in wanted if (block := cache.get(cid)) is not None}
    if cached:
        # Counting reads the (state, company_id) index only: far cheaper than
        # reading the rows again.
        counts = dict(
            connection.execute(
                select(Contact.company_id, func.count())
                .where(live, in_values(bind, Contact.company_id, list(cached)))
                .group_by(Contact.company_id)
            ).all()
        )
        blocks = {
            cid: block
            for cid, block in cached.items()
            if counts.get(cid, 0) == len(block.ids)
        }
    missing = [cid for cid in wanted if cid not in blocks]
    if not missing:
        return blocks
    # Names from the in-process company index; only companies it does not
    # hold yet (created in the last seconds) are read.
    index = company_index(session)
    names = {}
    for cid in missing:
        position = index.position_of(cid)
        if position is not None:
            names[cid] = index.names[position]
    unnamed = [cid for cid in missing if cid not in names]
    if unnamed:
        names.update(
            connection.execute(
                select(Company.id, Company.name).where(
                    in_values(bind, Company.id, unnamed)
                )
            ).all()
        )
    rows = connection.execute(
        select(
            Contact.company_id,
            Contact.id,
            # As text: the enum's conversion costs more than the rest of a row.
            type_coerce(Contact.state, String).label("state"),
            Contact.first_name,
            Contact.last_name,
        )
        .where(live, in_values(bind, Contact.company_id, missing))
        .order_by(Contact.company_id, Contact.id)
    ).all()
    # Parallel lists per company, filled in one pass over plain tuples; names
    # repeat a lot, so each distinct one is folded once and shared.
    columns: dict[int, tuple[list, list, list, list]] = {
        cid: ([], [], [], []) for cid in missing
    }
    folded: dict[str, str] = {}
    for company_id, contact_id, state, first, last in rows:
        ids, states, firsts, lasts = columns[company_id]
        ids.append(contact_id)
        states.append(state)
        key = folded.get(first)
        if key is None:
            key = folded[first] = name_key(first)
        firsts.append(key)
        key = folded.get(last)
        if key is None:
            key = folded[last] = name_key(last)
        lasts.append(key)
    now = time.monotonic()
    for cid, (ids, states, firsts, lasts) in columns.items():
        block = Block(
            company_id=cid,
            company_name=names.get(cid, ""),
            loaded_at=now,
            ids=ids,
            states=states,
            firsts=firsts,
            lasts=lasts,
            known_firsts=frozenset(firsts),
            known_lasts=frozenset(lasts),
        )
        if len(ids) >= CACHED_BLOCK_CONTACTS:
            cache.put(cid, block)
        blocks[cid] = block
    return blocks
