"""How long ``portal contacts import`` takes for an N-row file on SQLite and PostgreSQL.

    python bench/operator_import.py --rows 1000000 [--backends sqlite,postgresql]
        [--seed 1] [--csv PATH] [--suppressed 1000]

The file: the demo directory for N contacts (``generate_demo_data`` into a
scratch SQLite database), exported with each contact's company, shuffled, then
spoiled the way real files are: about 2% of rows refused (personal email,
mobile number, junk or numeric names, missing title, a formula cell, a broken
address), 1% repeating an earlier row's email, 0.5% with an email at a domain
that is not the company's (loaded but held); seven rows in ten give the company
domain, in assorted spellings. ``--csv PATH`` keeps the file there and reuses
it next time. ``--suppressed`` people of the file are put on the suppression
list first, so that check finds some.

Each backend starts from empty tables (a fresh SQLite file; PostgreSQL in the
``tessera_bench_import`` database, schema dropped and migrated again) and runs
the real command in a subprocess; the figure is its wall-clock time, start-up
and file checks included.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from report import print_columns
from seed import ensure_postgres_database, recreate_tables

from portal import create_app
from portal.contactfields import CONTACT_FIELDS
from portal.demo import generate_demo_data
from portal.extensions import db
from portal.suppression import suppress

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_bench_import"
REDIS_URL = "redis://127.0.0.1:6379/12"
SUPPRESSION_KEY = "bench-suppression-key"
BACKENDS = ("sqlite", "postgresql")

# Share of rows spoiled in each way.
BAD_SHARE = 0.02
DUPLICATE_SHARE = 0.01
HELD_SHARE = 0.005
COMPANY_DOMAIN_SHARE = 0.7

FREE_MAIL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "gmx.de")
MOBILES = ("+44 7911 123456", "+49 151 12345678", "+33 6 12 34 56 78")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--csv", type=Path, help="Keep (and reuse) the file here.")
    parser.add_argument("--suppressed", type=int, default=1000)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(unknown)}")

    results = []
    with tempfile.TemporaryDirectory(prefix="tessera-bench-import-") as tmp:
        path = args.csv or Path(tmp) / "contacts.csv"
        if path.exists():
            print(f"Reusing {path}", flush=True)
        else:
            print(f"Writing {args.rows:,} rows to {path} ...", flush=True)
            started = time.perf_counter()
            write_file(path, args.rows, args.seed, Path(tmp))
            print(f"  {time.perf_counter() - started:.0f} s", flush=True)
        suppressed = pick_suppressed(path, args.suppressed, args.seed)
        for backend in backends:
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/{backend}.db"
            else:
                url = args.postgres_url
                ensure_postgres_database(url)
            print(f"\n{backend}: portal contacts import ({path.name})", flush=True)
            results.append((backend, *run(url, Path(tmp), path, suppressed)))
    print_table(results)
    return 0


# --- the file ------------------------------------------------------------------


def write_file(path: Path, rows: int, seed: int, scratch: Path) -> None:
    """Write the spoiled, shuffled export of ``rows`` demo contacts to ``path``."""
    records = demo_records(rows, seed, scratch)
    rng = random.Random(f"{seed}:spoil")
    rng.shuffle(records)
    for index, record in enumerate(records):
        roll = rng.random()
        domain_given = rng.random() < COMPANY_DOMAIN_SHARE
        if roll < BAD_SHARE:
            spoil(rng, record)
        elif roll < BAD_SHARE + DUPLICATE_SHARE and index:
            repeat(rng, record, records[rng.randrange(index)])
            continue
        elif roll < BAD_SHARE + DUPLICATE_SHARE + HELD_SHARE:
            local, _, domain = record["email"].partition("@")
            record["email"] = f"{local}@{domain.split('.')[0]}-group.com"
            domain_given = True
        record["company_domain"] = (
            spell_domain(rng, record["company_domain"]) if domain_given else ""
        )
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CONTACT_FIELDS)
        writer.writeheader()
        writer.writerows(records)


def demo_records(rows: int, seed: int, scratch: Path) -> list[dict[str, str]]:
    """The demo directory for ``rows`` contacts as CSV records."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{scratch}/demo.db",
            "REDIS_URL": REDIS_URL,
            "INSTANCE_PATH": str(scratch / "instance"),
        }
    )
    with app.app_context():
        try:
            recreate_tables()
            generate_demo_data(rows, seed=seed)
            result = db.session.execute(
                sa.text(
                    "SELECT first_name, last_name, title, companies.name, "
                    "companies.domain, email, phone, contacts.city, contacts.country "
                    "FROM contacts JOIN companies ON companies.id = company_id "
                    "ORDER BY contacts.id"
                )
            )
            return [dict(zip(CONTACT_FIELDS, row, strict=True)) for row in result]
        finally:
            db.session.remove()
            db.engine.dispose()
            (scratch / "demo.db").unlink()


def spoil(rng: random.Random, record: dict[str, str]) -> None:
    """Give the record one fault the checks refuse."""
    local = record["email"].partition("@")[0]
    fault = rng.randrange(7)
    if fault == 0:
        record["email"] = f"{local}@{rng.choice(FREE_MAIL)}"
    elif fault == 1:
        record["phone"] = rng.choice(MOBILES)
        record["country"] = ""
    elif fault == 2:
        record["first_name"] = rng.choice(("asdf", "Test", "xxxx", "qwerty"))
    elif fault == 3:
        record["last_name"] = record["last_name"] + str(rng.randrange(10, 99))
    elif fault == 4:
        record["title"] = ""
    elif fault == 5:
        record["company"] = (
            '=HYPERLINK("http://example.com","' + record["company"] + '")'
        )
    else:
        record["email"] = local + " at " + record["email"].partition("@")[2]


def repeat(rng: random.Random, record: dict[str, str], earlier: dict[str, str]) -> None:
    """Make ``record`` a second copy of an earlier person, as exports do."""
    record.update(earlier)
    if rng.random() < 0.5:
        record["email"] = record["email"].upper()


def spell_domain(rng: random.Random, domain: str) -> str:
    """The company domain as people type it into a spreadsheet."""
    return rng.choice((domain, domain, f"www.{domain}", f"https://www.{domain}/"))


def pick_suppressed(path: Path, count: int, seed: int) -> list[str]:
    """Emails of ``count`` rows of the file, to put on the suppression list."""
    with path.open(encoding="utf-8", newline="") as source:
        emails = [row["email"] for row in csv.DictReader(source)]
    return random.Random(f"{seed}:suppressed").sample(emails, min(count, len(emails)))


# --- the run -------------------------------------------------------------------


def run(url: str, tmp: Path, path: Path, suppressed: list[str]) -> tuple:
    """Import ``path`` into empty tables at ``url``.

    Returns (rows, contacts, companies, seconds).
    """
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": REDIS_URL,
            "INSTANCE_PATH": str(tmp / "instance"),
            "SUPPRESSION_KEY": SUPPRESSION_KEY,
        }
    )
    with app.app_context():
        try:
            recreate_tables()
            for email in suppressed:
                suppress(
                    db.session, SUPPRESSION_KEY, reason="bench", email=email.lower()
                )
            db.session.commit()
        finally:
            db.session.remove()
            db.engine.dispose()

    env = dict(
        os.environ,
        DATABASE_URL=url,
        REDIS_URL=REDIS_URL,
        SUPPRESSION_KEY=SUPPRESSION_KEY,
    )
    command = [sys.executable, "-m", "portal.cli", "contacts", "import", str(path)]
    command += ["--report", str(tmp / "report.csv")]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True)
    seconds = time.perf_counter() - started

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            contacts = conn.scalar(sa.text("SELECT count(*) FROM contacts"))
            companies = conn.scalar(sa.text("SELECT count(*) FROM companies"))
            revisions = conn.scalar(sa.text("SELECT count(*) FROM contact_revisions"))
    finally:
        engine.dispose()
    if revisions != contacts:
        raise SystemExit(f"{contacts} contacts but {revisions} revisions")
    with path.open(encoding="utf-8", newline="") as source:
        rows = sum(1 for _ in csv.reader(source)) - 1
    return rows, contacts, companies, seconds


def print_table(results: list[tuple]) -> None:
    header = ("backend", "rows", "contacts", "companies", "seconds", "rows/s")
    rows = [
        (
            backend,
            f"{rows:,}",
            f"{contacts:,}",
            f"{companies:,}",
            f"{seconds:.1f}",
            f"{rows / seconds:,.0f}",
        )
        for backend, rows, contacts, companies, seconds in results
    ]
    print()
    print_columns(header, rows)


if __name__ == "__main__":
    sys.exit(main())
