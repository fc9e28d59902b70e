"""How long ``generate_demo_data`` takes for N contacts on SQLite and PostgreSQL.

    python bench/seed.py --contacts 1000000 [--backends sqlite,postgresql] [--seed 1]

Each backend starts from empty tables: SQLite in a fresh file under a temporary
directory, PostgreSQL in the ``tessera_bench`` database (created if missing,
its tables dropped and recreated). Tables come from the project's migrations
when there are any, else from the models' metadata. The figure is end to end:
planning, generating and committing every row.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import flask_migrate
import sqlalchemy as sa
from report import print_columns
from sqlalchemy.engine import make_url

from portal import create_app
from portal.config import PROJECT_ROOT
from portal.demo import generate_demo_data
from portal.extensions import db

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_bench"
REDIS_URL = "redis://127.0.0.1:6379/14"
BACKENDS = ("sqlite", "postgresql")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(unknown)}")

    results = []
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/bench.db"
            else:
                url = args.postgres_url
                ensure_postgres_database(url)
            print(f"{backend}: loading {args.contacts:,} contacts ...", flush=True)
            results.append((backend, *run(url, tmp, args.contacts, args.seed)))
    print_table(results)
    return 0


def ensure_postgres_database(url: str) -> None:
    """Create the benchmark database if it does not exist yet."""
    target = make_url(url)
    admin = sa.create_engine(
        target.set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            exists = conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            )
            if not exists:
                quoted = conn.dialect.identifier_preparer.quote(target.database)
                conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
    finally:
        admin.dispose()


def run(url: str, instance_path: str, contacts: int, seed: int) -> tuple:
    """Load ``contacts`` into empty tables at ``url``.

    Returns (contacts, companies, seconds) after checking the contact count.
    """
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": REDIS_URL,
            "INSTANCE_PATH": instance_path,
        }
    )
    with app.app_context():
        try:
            recreate_tables()
            started = time.perf_counter()
            summary = generate_demo_data(contacts, seed=seed)
            seconds = time.perf_counter() - started
            loaded = db.session.scalar(sa.text("SELECT count(*) FROM contacts"))
            db.session.rollback()
            if loaded != contacts:
                raise SystemExit(f"expected {contacts} contacts, found {loaded}")
            return summary.contacts, summary.companies, seconds
        finally:
            db.session.remove()
            db.engine.dispose()


def recreate_tables() -> None:
    """Start from an empty schema, then build the current one.

    On PostgreSQL the whole ``public`` schema goes, so functions and triggers
    the migrations create go with it; the SQLite file is new for every run.
    """
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    if any((PROJECT_ROOT / "migrations" / "versions").glob("*.py")):
        flask_migrate.upgrade()
    else:
        db.metadata.create_all(db.engine)


def print_table(results: list[tuple]) -> None:
    header = ("backend", "contacts", "companies", "seconds", "rows/s")
    rows = [
        (
            backend,
            f"{contacts:,}",
            f"{companies:,}",
            f"{seconds:.1f}",
            f"{(contacts + companies) / seconds:,.0f}",
        )
        for backend, contacts, companies, seconds in results
    ]
    print()
    print_columns(header, rows)


if __name__ == "__main__":
    sys.exit(main())
