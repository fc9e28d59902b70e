"""How fast and how accurate duplicate detection is over a large directory.

    python bench/dedupe.py --contacts 1000000 [--backend sqlite|postgresql]
        [--queries 1000] [--naive-queries 200] [--seed 1] [--reload]

The pool comes from ``generate_demo_data`` and is loaded once, then reused:
SQLite in a file named for its size and seed under
``$TMPDIR/tessera-bench-dedupe/``, PostgreSQL in the ``tessera_bench``
database (rebuilt from an empty schema on load; the contacts table's comment
names the size and seed). ``--reload`` loads it again.

Queries are made from the seed: ``--queries`` live contacts drawn uniformly
(so large companies weigh as much as they hold) with one or two typos
(substitution, deletion, insertion, transposition) in the first and/or last
name, 15% with first and last name swapped, and the company typed exactly
(70%), with another or no legal form (15%) or with a typo (15%); the email is
never given. As many novel people again: a company drawn the same way and a
name from its country's name lists that nobody there has.

Each query is one ``find_duplicates`` call, resolving the company from the
typed name, timed with ``perf_counter``. Recall: the share of typo'd known
people whose contact (or a namesake at the same company: without an email
nobody can tell two John Smiths apart) is the top candidate ("top") or among
the candidates ("any"). Precision: right top candidates over all top
candidates, both sets together. The naive method, on ``--naive-queries``
checks (half known, half novel, the first of each set): rapidfuzz
``process.extractOne(typed "first last company", every live contact's
"first last company", scorer=WRatio)`` over the pool held in memory (built
once, not timed), reported for several score cutoffs from one run at the
lowest. The report ends with how typed company names resolve and how fast
company suggestions come.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass

import flask_migrate
import sqlalchemy as sa
from faker import Faker
from pool import BenchPool
from rapidfuzz import fuzz, process
from report import print_columns

from portal import create_app, matching
from portal.demo import COUNTRIES
from portal.extensions import db
from portal.models import Company, Contact, ContactState
from portal.textfold import ascii_fold

POOL = BenchPool("dedupe")
SQLITE_FOLDER = POOL.sqlite_folder
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_bench"
REDIS_URL = "redis://127.0.0.1:6379/13"


# --- the query set -----------------------------------------------------------


@dataclass(frozen=True)
class Query:
    first_name: str
    last_name: str
    # What the member typed for the company.
    company_name: str
    company_id: int
    # The contact this person is (None: a novel person).
    truth: int | None
    # How the query was made, for the report.
    kind: str
    # How the company name was typed: "exact company", "suffix", "company typo".
    company_edit: str


@dataclass(frozen=True)
class Person:
    id: int
    first_name: str
    last_name: str
    company_id: int
    company_name: str
    country: str


LETTERS = "abcdefghijklmnopqrstuvwxyz"
LEGAL_SUFFIXES = {country.code: country.legal_suffixes for country in COUNTRIES}
LOCALES = {country.code: country.locale for country in COUNTRIES}


def typo(rng: random.Random, word: str) -> str:
    """``word`` with one substitution, deletion, insertion or transposition."""
    while True:
        ops = ["substitute", "insert"]
        if len(word) > 2:
            ops.append("delete")
        if len(word) > 1:
            ops.append("transpose")
        op = rng.choice(ops)
        i = rng.randrange(len(word))
        if op == "substitute":
            letter = rng.choice(LETTERS)
            changed = word[:i] + (letter.upper() if i == 0 else letter) + word[i + 1 :]
        elif op == "insert":
            changed = word[:i] + rng.choice(LETTERS) + word[i:]
        elif op == "delete":
            changed = word[:i] + word[i + 1 :]
        else:
            i = min(i, len(word) - 2)
            changed = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if changed.lower() != word.lower():
            return changed


def typed_company(rng: random.Random, person: Person) -> tuple[str, str]:
    """The company as a member might type it, and how it was changed."""
    draw = rng.random()
    name = person.company_name
    if draw < 0.70:
        return name, "exact company"
    if draw < 0.85:
        suffixes = LEGAL_SUFFIXES.get(person.country, ("Inc",))
        for suffix in sorted(suffixes, key=len, reverse=True):
            if name.endswith(" " + suffix):
                other = rng.choice([s for s in suffixes if s != suffix] + [""])
                return f"{name.removesuffix(' ' + suffix)} {other}".strip(), "suffix"
        return f"{name} {rng.choice(suffixes)}", "suffix"
    return typo(rng, name), "company typo"


def sample_people(rng: random.Random, count: int) -> list[Person]:
    """``count`` live contacts drawn uniformly (ids are dense after a load)."""
    top = db.session.scalar(sa.select(sa.func.max(Contact.id)))
    people: dict[int, Person] = {}
    while len(people) < count:
        ids = [rng.randint(1, top) for _ in range(count)]
        rows = db.session.execute(
            sa.select(
                Contact.id,
                Contact.first_name,
                Contact.last_name,
                Contact.company_id,
                Company.name,
                Company.country,
            )
            .join(Company, Company.id == Contact.company_id)
            .where(
                Contact.id.in_(ids),
                Contact.state.in_(ContactState.duplicate_checked_states()),
            )
        ).all()
        by_id = {row.id: Person(*row) for row in rows}
        for contact_id in ids:
            if contact_id in by_id and len(people) < count:
                people[contact_id] = by_id[contact_id]
    return list(people.values())


def build_queries(seed: int, count: int) -> tuple[list[Query], list[Query]]:
    """``count`` typo'd known people and ``count`` novel people, from ``seed``.

    Novel people are drawn from the same companies' distribution (a random
    contact's company) with a first and last name from the company country's
    Faker locale, the same name lists the pool was made from, such that no
    live or graveyard contact of that company has that folded name.
    """
    rng = random.Random(f"dedupe-bench:{seed}")
    known = []
    for person in sample_people(rng, count):
        first, last = person.first_name, person.last_name
        edits = 1 if rng.random() < 0.6 else 2
        for _ in range(edits):
            if rng.random() < 0.5:
                first = typo(rng, first)
            else:
                last = typo(rng, last)
        kind = f"{edits} edit{'s' if edits > 1 else ''}"
        if rng.random() < 0.15:
            first, last = last, first
            kind += ", swapped"
        company, how = typed_company(rng, person)
        kind += f", {how}"
        known.append(
            Query(first, last, company, person.company_id, person.id, kind, how)
        )

    fakers: dict[str, Faker] = {}
    novel = []
    for person in sample_people(rng, count):
        locale = LOCALES.get(person.country, "en_US")
        if locale not in fakers:
            fakers[locale] = Faker(locale)
            fakers[locale].seed_instance(seed)
        taken = {
            folded_name(first, last)
            for first, last in db.session.execute(
                sa.select(Contact.first_name, Contact.last_name).where(
                    Contact.company_id == person.company_id
                )
            )
        }
        while True:
            first, last = fakers[locale].first_name(), fakers[locale].last_name()
            if folded_name(first, last) not in taken:
                break
        company, how = typed_company(rng, person)
        novel.append(
            Query(first, last, company, person.company_id, None, f"novel, {how}", how)
        )
    db.session.rollback()
    return known, novel


def folded_name(first: str, last: str) -> str:
    return " ".join(ascii_fold(f"{first} {last}").split())


# --- running the methods -----------------------------------------------------


@dataclass
class Outcome:
    query: Query
    # Contact ids returned, best first.
    returned: list[int]
    seconds: float
    # The naive method's best score.
    score: float = 0.0


def run_tessera(queries: list[Query]) -> list[Outcome]:
    """find_duplicates per query, resolving the company from the typed name."""
    matching.suggest_companies(db.session, "warm the company index")
    db.session.rollback()
    outcomes = []
    for query in queries:
        started = time.perf_counter()
        check = matching.find_duplicates(
            db.session,
            first_name=query.first_name,
            last_name=query.last_name,
            company_id=None,
            company_name=query.company_name,
        )
        seconds = time.perf_counter() - started
        db.session.rollback()
        returned = [candidate.contact_id for candidate in check.candidates]
        outcomes.append(Outcome(query, returned, seconds))
    return outcomes


def company_figures(queries: list[Query]) -> list[str]:
    """How typed company names resolve, and how fast suggestions come.

    Suggestions are timed on each query's typed company name cut to 3-10
    characters, as the member would see them while typing.
    """
    lines = []
    by_edit: dict[str, list[int]] = {}
    for query in queries:
        match = matching.resolve_company(
            db.session, name=query.company_name, domain=None, email_domain=None
        )
        tally = by_edit.setdefault(query.company_edit, [0, 0, 0])
        if match is None:
            tally[2] += 1
        else:
            tally[0 if match.company_id == query.company_id else 1] += 1
    for edit, (right, wrong, none) in sorted(by_edit.items()):
        total = right + wrong + none
        lines.append(
            f"  resolve_company, {edit:<13}: {right / total:6.1%} right, "
            f"{wrong / total:5.1%} wrong, {none / total:5.1%} unresolved ({total:,})"
        )
    rng = random.Random(0)
    latencies, found = [], 0
    for query in queries:
        prefix = query.company_name[: rng.randint(3, 10)]
        started = time.perf_counter()
        suggestions = matching.suggest_companies(db.session, prefix)
        latencies.append((time.perf_counter() - started) * 1000)
        found += any(s.id == query.company_id for s in suggestions)
    db.session.rollback()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    lines.append(
        f"  suggest_companies on 3-10 typed characters: p50 {cuts[49]:.2f} ms, "
        f"p95 {cuts[94]:.2f} ms, p99 {cuts[98]:.2f} ms; the company is among "
        f"the 8 suggestions for {found / len(queries):.1%}"
    )
    return lines


def load_naive_pool() -> tuple[list[int], list[str]]:
    """Every live contact as folded "first last company", held in memory."""
    rows = db.session.execute(
        sa.select(Contact.id, Contact.first_name, Contact.last_name, Company.name)
        .join(Company, Company.id == Contact.company_id)
        .where(Contact.state.in_(ContactState.duplicate_checked_states()))
    )
    ids, strings = [], []
    for contact_id, first, last, company in rows:
        ids.append(contact_id)
        strings.append(ascii_fold(f"{first} {last} {company}"))
    db.session.rollback()
    return ids, strings


def run_naive(
    queries: list[Query], ids: list[int], strings: list[str], cutoff: float
) -> list[Outcome]:
    """rapidfuzz.process.extractOne with WRatio over the whole pool.

    Outcomes keep the best score, so figures for higher cutoffs come from the
    same run (``at_cutoff``).
    """
    outcomes = []
    for query in queries:
        started = time.perf_counter()
        typed = ascii_fold(f"{query.first_name} {query.last_name} {query.company_name}")
        best = process.extractOne(
            typed, strings, scorer=fuzz.WRatio, processor=None, score_cutoff=cutoff
        )
        seconds = time.perf_counter() - started
        returned = [] if best is None else [ids[best[2]]]
        score = 0.0 if best is None else best[1]
        outcomes.append(Outcome(query, returned, seconds, score))
    return outcomes


def at_cutoff(outcomes: list[Outcome], cutoff: float) -> list[Outcome]:
    return [
        o if o.score >= cutoff else Outcome(o.query, [], o.seconds, o.score)
        for o in outcomes
    ]


# --- scoring -----------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    method: str
    checks: int
    p50: float
    p95: float
    p99: float
    recall_top: float
    recall_any: float
    precision: float
    false_positives: int
    returned: int


def is_same_person(contact_id: int, truth: int, names: dict[int, tuple]) -> bool:
    """The true contact, or a namesake at the same company.

    Without an email a typo'd "John Smith" cannot tell two John Smiths of one
    company apart; either is the right warning to show.
    """
    return contact_id == truth or names[contact_id] == names[truth]


def contact_names(outcomes: list[Outcome]) -> dict[int, tuple]:
    ids = {o.query.truth for o in outcomes if o.query.truth is not None}
    ids.update(contact_id for o in outcomes for contact_id in o.returned)
    rows = db.session.execute(
        sa.select(
            Contact.id, Contact.first_name, Contact.last_name, Contact.company_id
        ).where(Contact.id.in_(ids))
    )
    names = {row.id: (folded_name(row[1], row[2]), row[3]) for row in rows}
    db.session.rollback()
    return names


def figures(method: str, outcomes: list[Outcome]) -> Figures:
    names = contact_names(outcomes)
    known = [o for o in outcomes if o.query.truth is not None]
    top_right = sum(
        1
        for o in known
        if o.returned and is_same_person(o.returned[0], o.query.truth, names)
    )
    any_right = sum(
        1
        for o in known
        if any(is_same_person(c, o.query.truth, names) for c in o.returned)
    )
    returned = sum(1 for o in outcomes if o.returned)
    latencies = sorted(o.seconds * 1000 for o in outcomes)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Figures(
        method=method,
        checks=len(outcomes),
        p50=cuts[49],
        p95=cuts[94],
        p99=cuts[98],
        recall_top=top_right / len(known),
        recall_any=any_right / len(known),
        precision=top_right / returned if returned else 1.0,
        false_positives=returned - top_right,
        returned=returned,
    )


def misses(outcomes: list[Outcome], limit: int) -> list[str]:
    """A few misses and false alarms, to see what goes wrong."""
    names = contact_names(outcomes)
    lines = []
    for o in outcomes:
        q = o.query
        wrong_top = o.returned and (
            q.truth is None or not is_same_person(o.returned[0], q.truth, names)
        )
        missed = q.truth is not None and not o.returned
        if wrong_top or missed:
            truth = names[q.truth][0] if q.truth is not None else "-"
            top = names[o.returned[0]][0] if o.returned else "-"
            lines.append(
                f"  {q.kind:<36} typed {q.first_name} {q.last_name!s:<22} "
                f"@ {q.company_name[:28]:<28} truth {truth:<22} top {top}"
            )
    return lines[:limit]


def print_table(rows: list[Figures]) -> None:
    header = (
        "method",
        "checks",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "recall top",
        "recall any",
        "precision",
        "false +",
    )
    cells = [
        (
            f.method,
            f"{f.checks:,}",
            f"{f.p50:.2f}",
            f"{f.p95:.2f}",
            f"{f.p99:.2f}",
            f"{f.recall_top:.3f}",
            f"{f.recall_any:.3f}",
            f"{f.precision:.3f}",
            f"{f.false_positives}/{f.returned}",
        )
        for f in rows
    ]
    print_columns(header, cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--queries",
        type=int,
        default=1000,
        help="typo'd known people (and as many novel)",
    )
    parser.add_argument(
        "--naive-queries",
        type=int,
        default=200,
        help="checks for the naive method: half known, half novel",
    )
    parser.add_argument(
        "--naive-cutoffs",
        default="85,90,95",
        help="WRatio score_cutoff values reported (one run, at the lowest)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--reload", action="store_true", help="load the pool even if it is there"
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--show-misses", type=int, default=0)
    args = parser.parse_args(argv)

    url = POOL.database_url(args.backend, args.contacts, args.seed, args.postgres_url)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": REDIS_URL,
            "INSTANCE_PATH": str(SQLITE_FOLDER / "instance"),
        }
    )
    with app.app_context():
        if not args.reload and POOL.is_loaded(args.contacts, args.seed):
            db.session.rollback()
            flask_migrate.upgrade()
            print(f"{args.backend}: reusing the pool loaded at {url}", flush=True)
        else:
            db.session.rollback()
            print(f"{args.backend}: loading {args.contacts:,} contacts ...", flush=True)
            seconds = POOL.load(args.contacts, args.seed)
            print(f"{args.backend}: loaded in {seconds:.1f} s", flush=True)

        started = time.perf_counter()
        known, novel = build_queries(args.seed, args.queries)
        print(f"built {len(known) + len(novel):,} queries", flush=True)
        ours = run_tessera(known + novel)
        print(
            f"find_duplicates done in {time.perf_counter() - started:.0f} s", flush=True
        )

        rows = [figures("find_duplicates", ours)]
        n = min(args.naive_queries // 2, args.queries)
        cutoffs = sorted(float(c) for c in args.naive_cutoffs.split(","))
        naive: list[Outcome] = []
        if n:
            naive_queries = known[:n] + novel[:n]
            ids, strings = load_naive_pool()
            print(f"naive pool: {len(strings):,} strings", flush=True)
            naive = run_naive(naive_queries, ids, strings, cutoffs[0])
            by_query = {id(o.query): o for o in ours}
            ours_subset = [by_query[id(q)] for q in naive_queries]
            rows.append(figures("find_duplicates, naive's queries", ours_subset))
            rows += [
                figures(f"naive WRatio, cutoff {c:g}", at_cutoff(naive, c))
                for c in cutoffs
            ]

        print()
        print("$ " + " ".join(["python", *sys.argv]))
        print(
            f"{args.backend}, {args.contacts:,} contacts, seed {args.seed}: "
            f"{len(known):,} typo'd known people + {len(novel):,} novel people; "
            f"threshold {matching.DUPLICATE_THRESHOLD:g}"
        )
        print_table(rows)
        print()
        print("\n".join(company_figures(known + novel)))
        if args.show_misses:
            print("\nfind_duplicates misses and false alarms:")
            print("\n".join(misses(ours, args.show_misses)))
            if naive:
                middle = cutoffs[len(cutoffs) // 2]
                print(f"\nnaive misses and false alarms at cutoff {middle:g}:")
                print("\n".join(misses(at_cutoff(naive, middle), args.show_misses)))
        print(f"\ntotal after loading: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
