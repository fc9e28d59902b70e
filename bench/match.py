"""How fast and how accurate the list matcher is against a large pool.

    python bench/match.py --contacts 1000000 [--backend sqlite|postgresql]
        [--rows 20000] [--naive-rows 100] [--seed 1] [--reload]

The pool comes from ``generate_demo_data`` (``bench/pool.py``: loaded once,
then reused; SQLite under ``$TMPDIR/tessera-bench-match/``, PostgreSQL in
``--postgres-url``). From the seed, a labelled list of ``--rows`` rows is
written as a HubSpot-style CSV export:

* 60% people in the pool (label: matched, their contact), drawn uniformly
  from active and disputed contacts that have no namesake at their company
  (without an email nobody can tell two John Smiths apart): typed exactly
  (15%), with one typo in the first or last name (30%), two typos one in each
  (10%), a nickname (10%, Robert -> Bob, when the dataset has one), first and
  last name swapped (10%) or an initial (5%), else exactly. The company as
  named (50%), with another or no legal form (20%), with a typo (15%), as its
  website instead (10%) or left out with the email given (5%). An email on
  30% of rows, a phone on 20%, a title, city and country on some.
* 10% people who moved (label: moved, their contact): listed at another
  company of the pool with their current email or phone.
* 30% people not in the pool (label: not_found): a name from the company
  country's name lists that nobody at the company has, with the company
  typed as above.

The list is matched by ``portal match`` in a child process (one process, as
a worker would), timed around its matching (its own rows/s figure) and end to
end; its peak memory is what it reports (VmHWM, since its exec), and its
rows per CPU second say what the figure would be on an idle machine. Precision for
``matched`` is the share of rows the matcher said ``matched`` whose contact is
the labelled one; recall, the share of rows labelled ``matched`` that come out
``matched`` with the labelled contact. The naive method, on ``--naive-rows``
rows (known and novel alike): rapidfuzz ``process.extractOne`` of the typed
"first last company" against every active and disputed contact's, scorer
WRatio, in memory (built once, not timed), at score cutoff 90.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import flask_migrate
import sqlalchemy as sa
from dedupe import LEGAL_SUFFIXES, LOCALES, typo
from faker import Faker
from pool import BenchPool
from rapidfuzz import fuzz, process
from report import print_columns

from portal import create_app
from portal.extensions import db
from portal.matching.batch import MATCHABLE_STATES
from portal.matching.people import same_first_name_variants
from portal.models import Company, Contact
from portal.textfold import ascii_fold, name_key

POOL = BenchPool("match")
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_matcher_bench"
REDIS_URL = "redis://127.0.0.1:6379/6"
HEADER = (
    "Record ID", "First Name", "Last Name", "Company Name", "Website",
    "Email", "Phone Number", "Job Title", "City", "Country",
)  # fmt: skip
NAIVE_CUTOFF = 90.0


@dataclass(frozen=True)
class Person:
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str | None
    title: str
    city: str | None
    country: str | None
    company_id: int
    company_name: str
    company_domain: str
    company_country: str | None


@dataclass(frozen=True)
class Row:
    record_id: str
    cells: tuple[str, ...]
    # "matched", "moved" or "not_found", and the contact for the first two.
    label: str
    truth: int | None
    kind: str


def load_people() -> list[Person]:
    rows = db.session.execute(
        sa.select(
            Contact.id,
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            Contact.phone,
            Contact.title,
            Contact.city,
            Contact.country,
            Contact.company_id,
            Company.name,
            Company.domain,
            Company.country,
        )
        .join(Company, Company.id == Contact.company_id)
        .where(Contact.state.in_(MATCHABLE_STATES))
        .order_by(Contact.id)
    )
    return [Person(*row) for row in rows]


def typed_company(rng: random.Random, person: Person, *, with_email: bool):
    """(company name, website) as a customer's file might hold them."""
    draw = rng.random()
    name = person.company_name
    if draw < 0.50:
        return name, "", "company"
    if draw < 0.70:
        suffixes = LEGAL_SUFFIXES.get(person.company_country or "", ("Inc",))
        for suffix in sorted(suffixes, key=len, reverse=True):
            if name.endswith(" " + suffix):
                other = rng.choice([s for s in suffixes if s != suffix] + [""])
                return f"{name.removesuffix(' ' + suffix)} {other}".strip(), "", "form"
        return f"{name} {rng.choice(suffixes)}", "", "form"
    if draw < 0.85:
        return typo(rng, name), "", "company typo"
    if draw < 0.95 or not with_email:
        return "", f"www.{person.company_domain}", "website"
    return "", "", "no company"


def extras(rng: random.Random, person: Person, *, email: bool, phone: bool):
    return (
        person.email if email else "",
        person.phone if phone and person.phone else "",
        person.title if rng.random() < 0.5 else "",
        (person.city or "") if rng.random() < 0.3 else "",
        (person.country or "") if rng.random() < 0.3 else "",
    )


def build_list(seed: int, count: int, people: list[Person]) -> list[Row]:
    rng = random.Random(f"match-bench:{seed}")
    by_company: dict[int, list[Person]] = {}
    for person in people:
        by_company.setdefault(person.company_id, []).append(person)
    names_at: dict[int, set[str]] = {}

    def folded_names(company_id: int) -> set[str]:
        if company_id not in names_at:
            names_at[company_id] = {
                f"{name_key(p.first_name)} {name_key(p.last_name)}"
                for p in by_company[company_id]
            }
        return names_at[company_id]

    namesakes: dict[int, dict[str, int]] = {}

    def has_namesake(person: Person) -> bool:
        if person.company_id not in namesakes:
            counts: dict[str, int] = {}
            for p in by_company[person.company_id]:
                key = f"{name_key(p.first_name)} {name_key(p.last_name)}"
                counts[key] = counts.get(key, 0) + 1
            namesakes[person.company_id] = counts
        key = f"{name_key(person.first_name)} {name_key(person.last_name)}"
        return namesakes[person.company_id][key] > 1

    rows: list[Row] = []
    fakers: dict[str, Faker] = {}
    for n in range(count):
        record_id = f"R{n + 1:06d}"
        draw = rng.random()
        person = rng.choice(people)
        if draw < 0.60:
            while has_namesake(person):
                person = rng.choice(people)
            first, last, kind = known_name(rng, person)
            email, phone = rng.random() < 0.3, rng.random() < 0.2
            company, website, how = typed_company(rng, person, with_email=email)
            if how == "no company":
                email = True
            cells = (record_id, first, last, company, website,
                     *extras(rng, person, email=email, phone=phone))  # fmt: skip
            rows.append(Row(record_id, cells, "matched", person.id, f"{kind}, {how}"))
        elif draw < 0.70:
            while not person.phone and rng.random() < 0.5:
                person = rng.choice(people)
            elsewhere = rng.choice(people)
            while elsewhere.company_id == person.company_id:
                elsewhere = rng.choice(people)
            by_phone = bool(person.phone) and rng.random() < 0.4
            cells = (
                record_id, person.first_name, person.last_name,
                elsewhere.company_name, "",
                "" if by_phone else person.email,
                person.phone if by_phone else "", "", "", "",
            )  # fmt: skip
            how = "phone" if by_phone else "email"
            rows.append(Row(record_id, cells, "moved", person.id, f"moved, {how}"))
        else:
            locale = LOCALES.get(person.company_country or "", "en_US")
            if locale not in fakers:
                fakers[locale] = Faker(locale)
                fakers[locale].seed_instance(seed)
            taken = folded_names(person.company_id)
            while True:
                first, last = fakers[locale].first_name(), fakers[locale].last_name()
                if f"{name_key(first)} {name_key(last)}" not in taken:
                    break
            company, website, how = typed_company(rng, person, with_email=False)
            cells = (record_id, first, last, company, website, "", "", "", "", "")
            rows.append(Row(record_id, cells, "not_found", None, f"novel, {how}"))
    return rows


def known_name(rng: random.Random, person: Person) -> tuple[str, str, str]:
    first, last = person.first_name, person.last_name
    draw = rng.random()
    if draw < 0.15:
        return first, last, "exact"
    if draw < 0.45:
        if rng.random() < 0.5:
            return typo(rng, first), last, "1 typo"
        return first, typo(rng, last), "1 typo"
    if draw < 0.55:
        return typo(rng, first), typo(rng, last), "2 typos"
    if draw < 0.65:
        nicknames = sorted(same_first_name_variants(name_key(first)))
        if nicknames:
            return rng.choice(nicknames).title(), last, "nickname"
        return typo(rng, first), last, "1 typo"
    if draw < 0.75:
        return last, first, "swapped"
    if draw < 0.80:
        return f"{first[0]}.", last, "initial"
    return first, last, "exact"


def write_list(rows: list[Row], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(row.cells for row in rows)


def run_portal_match(url: str, source: Path, out: Path, report: Path, instance):
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "TESSERA_INSTANCE_PATH": str(instance),
    }
    portal = Path(sys.executable).with_name("portal")
    started = time.perf_counter()
    done = subprocess.run(
        [str(portal), "match", str(source), "--out", str(out), "--report", str(report)],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"portal match failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout, seconds


def evaluate(rows: list[Row], outcomes: dict[str, tuple[str, int | None]]):
    said_matched = right_matched = labelled = found = 0
    moved_right = moved_total = 0
    misses: list[str] = []
    for row in rows:
        status, contact = outcomes[row.record_id]
        if status == "matched":
            said_matched += 1
            if row.label == "matched" and contact == row.truth:
                right_matched += 1
            else:
                misses.append(f"false match ({row.kind}): {row.cells[1:5]}")
        if row.label == "matched":
            labelled += 1
            if status == "matched" and contact == row.truth:
                found += 1
            else:
                misses.append(f"missed ({row.kind}) -> {status}: {row.cells[1:6]}")
        if row.label == "moved":
            moved_total += 1
            moved_right += status == "moved" and contact == row.truth
    precision = right_matched / said_matched if said_matched else 1.0
    recall = found / labelled if labelled else 1.0
    moved = moved_right / moved_total if moved_total else 1.0
    return precision, recall, moved, misses


def read_report(path: Path) -> dict[str, tuple[str, int | None]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        return {
            line["record_id"].lstrip("'"): (
                line["status"],
                int(line["contact_id"]) if line["contact_id"] else None,
            )
            for line in reader
        }


def run_naive(rows: list[Row], people: list[Person]):
    strings = [
        ascii_fold(f"{p.first_name} {p.last_name} {p.company_name}") for p in people
    ]
    ids = [p.id for p in people]
    started = time.perf_counter()
    outcomes = {}
    for row in rows:
        _, first, last, company, website = row.cells[:5]
        typed = ascii_fold(f"{first} {last} {company or website}")
        best = process.extractOne(
            typed, strings, scorer=fuzz.WRatio, score_cutoff=NAIVE_CUTOFF
        )
        outcomes[row.record_id] = ("matched", ids[best[2]]) if best else ("none", None)
    return outcomes, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--naive-rows", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--show-misses", type=int, default=0)
    args = parser.parse_args(argv)

    url = POOL.database_url(args.backend, args.contacts, args.seed, args.postgres_url)
    instance = POOL.sqlite_folder / "instance"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": REDIS_URL,
            "INSTANCE_PATH": str(instance),
        }
    )
    with app.app_context():
        if not args.reload and POOL.is_loaded(args.contacts, args.seed):
            db.session.rollback()
            flask_migrate.upgrade()
            print(f"{args.backend}: reusing the pool at {url}", flush=True)
        else:
            db.session.rollback()
            print(f"{args.backend}: loading {args.contacts:,} contacts ...", flush=True)
            print(f"loaded in {POOL.load(args.contacts, args.seed):.0f} s", flush=True)
        people = load_people()
        db.session.rollback()
    rows = build_list(args.seed, args.rows, people)
    print(f"built a list of {len(rows):,} rows", flush=True)

    with tempfile.TemporaryDirectory(prefix="tessera-match-bench-") as tmp:
        folder = Path(tmp)
        source, out, report = (folder / n for n in ("list.csv", "out.csv", "r.csv"))
        write_list(rows, source)
        output, wall = run_portal_match(
            app.config["SQLALCHEMY_DATABASE_URI"], source, out, report, instance
        )
        outcomes = read_report(report)
    rate = re.search(r"\(([\d,]+) rows/s; ([\d.]+) CPU s, ([\d,]+) rows per", output)
    memory = re.search(r"Peak memory: ([\d,]+) MB", output)
    precision, recall, moved, misses = evaluate(rows, outcomes)

    naive_rows = rows[: args.naive_rows]
    naive_outcomes, naive_seconds = run_naive(naive_rows, people)
    naive_p, naive_r, _, _ = evaluate(naive_rows, naive_outcomes)
    naive_rate = len(naive_rows) / naive_seconds if naive_rows else 0.0
    ours_p, ours_r, _, _ = evaluate(naive_rows, outcomes)

    print()
    print("$ " + " ".join(["python", *sys.argv]))
    print(
        f"{args.backend}, {args.contacts:,} contacts, seed {args.seed}: "
        f"{len(rows):,} rows (60% known, 10% moved, 30% not in the pool)"
    )
    print(output.strip())
    print_columns(
        (
            "method",
            "rows",
            "rows/s",
            "rows/CPU s",
            "precision",
            "recall",
            "moved right",
            "peak MB",
        ),  # fmt: skip
        [
            (
                "portal match",
                f"{len(rows):,}",
                rate.group(1) if rate else "?",
                rate.group(3) if rate else "?",
                f"{precision:.4f}",
                f"{recall:.4f}",
                f"{moved:.3f}",
                memory.group(1) if memory else "?",
            ),
            (
                "portal match, end to end",
                f"{len(rows):,}",
                f"{len(rows) / wall:,.0f}",
                "",
                "",
                "",
                "",
                "",
            ),
            (
                "portal match, naive's rows",
                f"{len(naive_rows):,}",
                "",
                "",
                f"{ours_p:.4f}",
                f"{ours_r:.4f}",
                "",
                "",
            ),
            (
                f"naive extractOne WRatio >= {NAIVE_CUTOFF:g}",
                f"{len(naive_rows):,}",
                f"{naive_rate:,.1f}",
                "",
                f"{naive_p:.4f}",
                f"{naive_r:.4f}",
                "",
                "",
            ),
        ],
    )
    if args.show_misses:
        print("\n".join(misses[: args.show_misses]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
