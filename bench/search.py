"""How fast and how accurate contact search is over a million contacts.

    python bench/search.py [--contacts 1000000] [--backends sqlite,postgresql]
        [--queries 300] [--naive-queries 50] [--seed 1] [--reload]

The pool comes from ``generate_demo_data`` and is loaded once per backend,
then reused: SQLite in ``$TMPDIR/tessera-bench-search/contacts-N-seed-S.db``,
PostgreSQL in the ``tessera_bench_search`` database (its schema rebuilt on
load; the contacts table's comment names the size and seed). ``--reload``
loads it again; the load time (search triggers included) is printed.

Queries are made from the seed: ``--queries`` searchable (active or disputed)
contacts drawn uniformly, each typed with one typo (a wrong, missing, extra
or swapped letter) in the first or the last name; half give the name alone,
a quarter add words of the company's name ("Jon Smiht Brightforge"), a
quarter add them after "at" ("jon smiht at brightforge solutions"); one in
ten puts the last name first, half are typed in lower case.

Methods, each timed server-side (the call, not HTTP) per query:

* ``search_contacts``, what ``/search`` runs, on each backend;
* a plain pg_trgm query (PostgreSQL): ``doc % query`` at
  ``pg_trgm.similarity_threshold`` 0.3, ordered by ``similarity``, over a
  GIN-indexed table of "first last company" for every searchable contact
  (built once in the bench database; not part of the schema);
* rapidfuzz ``process.extract`` (WRatio, limit 10) over the same strings
  held in memory (built once, not timed), on the first ``--naive-queries``.

recall@10: the share of queries where the person is among the first ten
results: the contact itself or a namesake (same folded first and last name,
and the same company when company words were typed), since nothing typed can
tell those apart. "exact id" counts the contact itself only. A second table
times other shapes of query (a surname alone, title words, a company, filters
only, a name with a country filter).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import flask_migrate
import sqlalchemy as sa
from pool import BenchPool
from rapidfuzz import fuzz, process, utils
from report import print_columns

from portal import create_app
from portal.extensions import db
from portal.models import Company, Contact, ContactState
from portal.search.services import SearchQuery, search_contacts
from portal.textfold import ascii_fold, normalise_company_name

POOL = BenchPool("search")
SQLITE_FOLDER = POOL.sqlite_folder
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_bench_search"
REDIS_URL = "redis://127.0.0.1:6379/11"
BACKENDS = ("sqlite", "postgresql")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
TRGM_TABLE = "bench_search_trgm"
TOP = 10


# --- the pool ----------------------------------------------------------------


# --- queries -------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    first_name: str
    last_name: str
    company_id: int
    company_name: str


@dataclass(frozen=True)
class Query:
    text: str
    person: Person
    # Whether company words were typed (then a namesake must work there too).
    with_company: bool
    kind: str


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
            changed = word[:i] + rng.choice(LETTERS) + word[i + 1 :]
        elif op == "insert":
            changed = word[:i] + rng.choice(LETTERS) + word[i:]
        elif op == "delete":
            changed = word[:i] + word[i + 1 :]
        else:
            i = min(i, len(word) - 2)
            changed = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if changed.lower() != word.lower():
            return changed


def sample_people(rng: random.Random, count: int) -> list[Person]:
    """``count`` searchable contacts drawn uniformly (ids are dense)."""
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
            )
            .join(Company, Company.id == Contact.company_id)
            .where(
                Contact.id.in_(ids), Contact.state.in_(ContactState.searchable_states())
            )
        ).all()
        by_id = {row.id: Person(*row) for row in rows}
        for contact_id in ids:
            if contact_id in by_id and len(people) < count:
                people[contact_id] = by_id[contact_id]
    db.session.rollback()
    return list(people.values())


def company_words(rng: random.Random, name: str) -> str:
    words = normalise_company_name(name).split()
    return " ".join(words if rng.random() < 0.5 else words[:1])


def build_queries(seed: int, count: int, salt: str = "") -> list[Query]:
    rng = random.Random(f"search-bench:{seed}{salt}")
    queries = []
    for person in sample_people(rng, count):
        first, last = person.first_name, person.last_name
        if rng.random() < 0.5:
            first = typo(rng, first)
        else:
            last = typo(rng, last)
        name = f"{last} {first}" if rng.random() < 0.1 else f"{first} {last}"
        shape = rng.random()
        if shape < 0.5:
            text, kind = name, "name"
        elif shape < 0.75:
            text, kind = f"{name} {company_words(rng, person.company_name)}", "company"
        else:
            text = f"{name} at {company_words(rng, person.company_name)}"
            kind = "at company"
        if rng.random() < 0.5:
            text = text.lower()
        queries.append(Query(text, person, kind != "name", kind))
    return queries


def shape_queries(seed: int, count: int) -> dict[str, list[dict[str, str]]]:
    """Other shapes of query, as request parameters."""
    rng = random.Random(f"search-bench-shapes:{seed}")
    people = sample_people(rng, count)
    titles = db.session.scalars(sa.select(Contact.title).limit(5000)).all()
    countries = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "SE", "IE", "DK", "AT")
    db.session.rollback()
    shapes: dict[str, list[dict[str, str]]] = {
        "surname alone": [],
        "first name, typo'd": [],
        "title words": [],
        "company name": [],
        "filters only": [],
        "name + country": [],
    }
    for person in people:
        shapes["surname alone"].append({"q": person.last_name})
        shapes["first name, typo'd"].append({"q": typo(rng, person.first_name)})
        words = [w for w in rng.choice(titles).split() if len(w) > 2]
        shapes["title words"].append({"q": " ".join(words[:2])})
        shapes["company name"].append({"q": company_words(rng, person.company_name)})
        shapes["filters only"].append(
            {"country": rng.choice(countries), "seniority": "director"}
        )
        shapes["name + country"].append(
            {
                "q": f"{person.first_name} {typo(rng, person.last_name)}",
                "country": rng.choice(countries),
            }
        )
    return shapes


# --- methods -------------------------------------------------------------------


@dataclass
class Outcome:
    query: Query
    returned: list[int]
    seconds: float


def run_search(queries: list[Query]) -> list[Outcome]:
    outcomes = []
    for query in queries:
        search = SearchQuery(text=query.text, per_page=TOP)
        started = time.perf_counter()
        results = search_contacts(db.session, search)
        seconds = time.perf_counter() - started
        db.session.rollback()
        outcomes.append(Outcome(query, [h.contact_id for h in results.hits], seconds))
    return outcomes


def ensure_trgm_table() -> float:
    """The plain pg_trgm baseline's table: "first last company" per searchable
    contact, GIN-indexed. Returns the seconds building it took (0: reused)."""
    with db.engine.begin() as conn:
        if sa.inspect(conn).has_table(TRGM_TABLE):
            return 0.0
    started = time.perf_counter()
    states = ", ".join(f"'{s.value}'" for s in ContactState.searchable_states())
    with db.engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        conn.execute(
            sa.text(
                f"CREATE TABLE {TRGM_TABLE} AS SELECT c.id, "
                "lower(c.first_name || ' ' || c.last_name || ' ' || co.name) AS doc "
                "FROM contacts c JOIN companies co ON co.id = c.company_id "
                f"WHERE c.state IN ({states})"
            )
        )
        conn.execute(sa.text(f"ALTER TABLE {TRGM_TABLE} ADD PRIMARY KEY (id)"))
        conn.execute(
            sa.text(
                f"CREATE INDEX {TRGM_TABLE}_doc ON {TRGM_TABLE} "
                "USING gin (doc gin_trgm_ops)"
            )
        )
    with db.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as c:
        c.execute(sa.text(f"VACUUM ANALYZE {TRGM_TABLE}"))
    return time.perf_counter() - started


def run_trgm(queries: list[Query]) -> list[Outcome]:
    statement = sa.text(
        f"SELECT id FROM {TRGM_TABLE} WHERE doc % lower(:q) "
        "ORDER BY similarity(doc, lower(:q)) DESC, id LIMIT :top"
    )
    outcomes = []
    with db.engine.connect() as conn:
        conn.execute(sa.text("SET pg_trgm.similarity_threshold = 0.3"))
        for query in queries:
            started = time.perf_counter()
            ids = conn.scalars(statement, {"q": query.text, "top": TOP}).all()
            outcomes.append(Outcome(query, list(ids), time.perf_counter() - started))
    return outcomes


def load_naive_pool() -> tuple[list[int], list[str]]:
    rows = db.session.execute(
        sa.select(Contact.id, Contact.first_name, Contact.last_name, Company.name)
        .join(Company, Company.id == Contact.company_id)
        .where(Contact.state.in_(ContactState.searchable_states()))
    )
    ids, strings = [], []
    for contact_id, first, last, company in rows:
        ids.append(contact_id)
        strings.append(utils.default_process(f"{first} {last} {company}"))
    db.session.rollback()
    return ids, strings


def run_naive(queries: list[Query], ids: list[int], strings: list[str]):
    outcomes = []
    for query in queries:
        started = time.perf_counter()
        best = process.extract(
            utils.default_process(query.text),
            strings,
            scorer=fuzz.WRatio,
            processor=None,
            limit=TOP,
        )
        seconds = time.perf_counter() - started
        outcomes.append(Outcome(query, [ids[i] for _, _, i in best], seconds))
    return outcomes


# --- figures -------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    method: str
    backend: str
    queries: int
    p50: float
    p95: float
    p99: float
    recall: float
    exact_recall: float


def folded(first: str, last: str) -> str:
    return " ".join(ascii_fold(f"{first} {last}").split())


def figures(method: str, backend: str, outcomes: list[Outcome]) -> Figures:
    returned = {c for o in outcomes for c in o.returned}
    names = {}
    for chunk in range(0, len(returned), 5000):
        ids = sorted(returned)[chunk : chunk + 5000]
        for row in db.session.execute(
            sa.select(
                Contact.id, Contact.first_name, Contact.last_name, Contact.company_id
            ).where(Contact.id.in_(ids))
        ):
            names[row.id] = (folded(row.first_name, row.last_name), row.company_id)
    db.session.rollback()

    def found(outcome: Outcome) -> bool:
        person = outcome.query.person
        name = folded(person.first_name, person.last_name)
        for contact_id in outcome.returned[:TOP]:
            if contact_id == person.id:
                return True
            other_name, company_id = names[contact_id]
            if other_name == name and (
                not outcome.query.with_company or company_id == person.company_id
            ):
                return True
        return False

    latencies = sorted(o.seconds * 1000 for o in outcomes)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Figures(
        method=method,
        backend=backend,
        queries=len(outcomes),
        p50=cuts[49],
        p95=cuts[94],
        p99=cuts[98],
        recall=sum(found(o) for o in outcomes) / len(outcomes),
        exact_recall=sum(o.query.person.id in o.returned[:TOP] for o in outcomes)
        / len(outcomes),
    )


def misses(outcomes: list[Outcome], limit: int) -> list[str]:
    """Queries whose person is not among the first ten, namesakes or not."""
    names = {}
    returned = sorted({c for o in outcomes for c in o.returned})
    for row in db.session.execute(
        sa.select(Contact.id, Contact.first_name, Contact.last_name).where(
            Contact.id.in_(returned)
        )
    ):
        names[row.id] = folded(row.first_name, row.last_name)
    db.session.rollback()
    lines = []
    for o in outcomes:
        p = o.query.person
        if p.id in o.returned:
            continue
        namesake = folded(p.first_name, p.last_name) in {names[c] for c in o.returned}
        lines.append(
            f"  {'namesake' if namesake else 'MISS':<8} {o.query.kind:<10} "
            f"{o.query.text[:50]:<50} truth {p.first_name} {p.last_name} "
            f"@ {p.company_name[:30]}"
        )
    lines.sort(key=lambda line: not line.lstrip().startswith("MISS"))
    return lines[:limit]


def time_shapes(shapes: dict[str, list[dict[str, str]]], backend: str) -> list[tuple]:
    rows = []
    for shape, params_list in shapes.items():
        latencies, counts = [], []
        for params in params_list:
            query = SearchQuery.from_params(params)
            started = time.perf_counter()
            results = search_contacts(db.session, query)
            latencies.append((time.perf_counter() - started) * 1000)
            db.session.rollback()
            counts.append(results.total)
        cuts = statistics.quantiles(sorted(latencies), n=100, method="inclusive")
        rows.append(
            (
                shape,
                backend,
                str(len(latencies)),
                f"{cuts[49]:.1f}",
                f"{cuts[94]:.1f}",
                f"{max(latencies):.1f}",
                f"{statistics.median(counts):,.0f}",
            )
        )
    return rows


def figure_rows(all_figures: list[Figures]) -> list[tuple]:
    return [
        (
            f.method,
            f.backend,
            f"{f.queries:,}",
            f"{f.p50:.2f}",
            f"{f.p95:.2f}",
            f"{f.p99:.2f}",
            f"{f.recall:.3f}",
            f"{f.exact_recall:.3f}",
        )
        for f in all_figures
    ]


# --- main ----------------------------------------------------------------------


def with_app(url: str, body: Callable[[], None]) -> None:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": REDIS_URL,
            "INSTANCE_PATH": str(SQLITE_FOLDER / "instance"),
        }
    )
    with app.app_context():
        try:
            body()
        finally:
            db.session.remove()
            db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--naive-queries", type=int, default=50)
    parser.add_argument("--shape-queries", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--show-misses", type=int, default=0)
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := sorted(set(backends) - set(BACKENDS)):
        parser.error(f"unknown backend(s): {', '.join(unknown)}")

    results: list[Figures] = []
    shape_rows: list[tuple] = []
    naive_done = False
    started = time.perf_counter()
    for backend in backends:
        url = POOL.database_url(backend, args.contacts, args.seed, args.postgres_url)

        def run(backend: str = backend, url: str = url) -> None:
            nonlocal naive_done
            if not args.reload and POOL.is_loaded(args.contacts, args.seed):
                db.session.rollback()
                flask_migrate.upgrade()
                print(f"{backend}: reusing the pool at {url}", flush=True)
            else:
                db.session.rollback()
                print(f"{backend}: loading {args.contacts:,} contacts ...", flush=True)
                seconds = POOL.load(args.contacts, args.seed)
                print(f"{backend}: loaded in {seconds:.1f} s", flush=True)
            queries = build_queries(args.seed, args.queries)
            run_search(build_queries(args.seed, args.warmup, salt=":warm-up"))
            ours = run_search(queries)
            results.append(figures("search_contacts", backend, ours))
            print(f"{backend}: search_contacts done", flush=True)
            if args.show_misses:
                print("\n".join(misses(ours, args.show_misses)))
            if backend == "postgresql":
                built = ensure_trgm_table()
                if built:
                    print(f"built the pg_trgm baseline in {built:.0f} s", flush=True)
                results.append(figures("pg_trgm % (0.3)", backend, run_trgm(queries)))
                print(f"{backend}: pg_trgm done", flush=True)
            if args.naive_queries and not naive_done:
                naive_done = True
                subset = queries[: args.naive_queries]
                ids, strings = load_naive_pool()
                naive = run_naive(subset, ids, strings)
                by_query = {id(o.query): o for o in ours}
                results.append(
                    figures(
                        "search_contacts, naive's queries",
                        backend,
                        [by_query[id(q)] for q in subset],
                    )
                )
                results.append(figures("rapidfuzz extract WRatio", "memory", naive))
                print("rapidfuzz process.extract done", flush=True)
            if args.shape_queries:
                shape_rows.extend(
                    time_shapes(shape_queries(args.seed, args.shape_queries), backend)
                )

        with_app(url, run)

    print()
    print("$ " + " ".join(["python", *sys.argv]))
    print(
        f"{args.contacts:,} contacts, seed {args.seed}; {args.queries} queries, one "
        f"typo each; times in ms, server-side"
    )
    print_columns(
        (
            "method",
            "backend",
            "queries",
            "p50",
            "p95",
            "p99",
            "recall@10",
            "exact id",
        ),
        figure_rows(results),
    )
    if shape_rows:
        print()
        print_columns(
            ("other queries", "backend", "n", "p50", "p95", "max", "median results"),
            shape_rows,
        )
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
