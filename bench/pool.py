"""A seeded pool of demo contacts that benchmarks load once and reuse.

    from pool import BenchPool
    pool = BenchPool("search")          # SQLite file under /tmp/tessera-bench-search/

SQLite pools live in a file named for their size and seed; a PostgreSQL pool
is labelled with a table comment set after a complete load, so a half-loaded
or differently seeded database is never taken for the pool.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import flask_migrate
import sqlalchemy as sa
from seed import ensure_postgres_database

from portal.demo import generate_demo_data
from portal.extensions import db

# SQLite's write-ahead log files, removed with the database file.
WAL_FILES = ("-wal", "-shm")


class BenchPool:
    def __init__(self, name: str):
        self.name = name
        self.sqlite_folder = Path(tempfile.gettempdir()) / f"tessera-bench-{name}"

    def database_url(
        self, backend: str, contacts: int, seed: int, postgres_url: str
    ) -> str:
        if backend == "sqlite":
            self.sqlite_folder.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{self.sqlite_folder}/contacts-{contacts}-seed-{seed}.db"
        ensure_postgres_database(postgres_url)
        return postgres_url

    def label(self, contacts: int, seed: int) -> str:
        return f"tessera {self.name} bench: {contacts} contacts, seed {seed}"

    def is_loaded(self, contacts: int, seed: int) -> bool:
        """Whether the app's database holds exactly this seed's pool."""
        inspector = sa.inspect(db.engine)
        if not inspector.has_table("contacts"):
            return False
        if db.session.scalar(sa.text("SELECT count(*) FROM contacts")) != contacts:
            return False
        if db.engine.dialect.name == "postgresql":
            comment = inspector.get_table_comment("contacts").get("text")
            return comment == self.label(contacts, seed)
        return True

    def load(self, contacts: int, seed: int) -> float:
        """Recreate the schema and load the pool; returns the seconds the load
        took (the search index's triggers included)."""
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        else:
            db.engine.dispose()
            path = Path(db.engine.url.database)
            for leftover in (path, *(path.with_name(path.name + s) for s in WAL_FILES)):
                leftover.unlink(missing_ok=True)
        flask_migrate.upgrade()
        started = time.perf_counter()
        generate_demo_data(contacts, seed=seed)
        seconds = time.perf_counter() - started
        # A live database has statistics and (PostgreSQL) a visibility map, which
        # index-only scans need; autovacuum would get there in a while.
        autocommit = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        with autocommit.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("VACUUM ANALYZE"))
                label = self.label(contacts, seed).replace("'", "''")
                conn.execute(sa.text(f"COMMENT ON TABLE contacts IS '{label}'"))
            else:
                conn.execute(sa.text("ANALYZE"))
        return seconds
