"""Shared fixtures: a real database and a real Redis for every test.

By default the suite runs on SQLite and the embedded Redis server; set
``TEST_DATABASE_URL`` and ``TEST_REDIS_URL`` to run it on PostgreSQL and a
Redis server instead (CI runs both). The Redis URL should name a database
number of its own: it is flushed around every test.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as redis_lib
import time_machine
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask_migrate import upgrade
from hypothesis import HealthCheck, settings
from rq import Queue
from sqlalchemy import create_engine, make_url, text

from portal import create_app, embedded_redis
from portal.config import normalise_database_url
from portal.extensions import db as _db
from tests.clock import SHIFT_VARIABLE, clock_shift_days, start_shifted_clock
from tests.factories import Factories

# One Hypothesis profile for the whole suite. A shared 2-core machine can
# make any example slow, so no per-example deadline and no "too slow" health
# check: a fixed number of examples is the budget instead.
settings.register_profile(
    "tessera",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("tessera")

_shifted_clock = None

# Where ``fixed_clock`` starts: 09:00 UTC, far from midnight, so no test
# crosses into another day while it runs.
FIXED_NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def fixed_clock() -> Iterator[time_machine.Coordinates]:
    """The clock starts at FIXED_NOW and runs on, for tests whose pages or
    rows count days back from "now" (freshness, daily limits)."""
    with time_machine.travel(FIXED_NOW, tick=True) as traveller:
        yield traveller


def pytest_configure(config):
    """With TESSERA_TEST_CLOCK_SHIFT_DAYS set, the session runs that far ahead."""
    global _shifted_clock
    _shifted_clock = start_shifted_clock()


def pytest_unconfigure(config):
    if _shifted_clock is not None:
        _shifted_clock.stop()


def pytest_report_header(config):
    days = clock_shift_days()
    if days:
        return f"clock: shifted {days} days ahead ({SHIFT_VARIABLE})"
    return None


CSRF_PATTERN = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


def _postgres_reset_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _xdist_worker_index() -> int | None:
    """0, 1, ... under pytest-xdist (``gw0``, ``gw1``, ...); None otherwise."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") else None


def _postgres_database_for_worker(url: str, index: int) -> str:
    """``<db>_gw<index>``, created on first use: each xdist worker wipes its own."""
    admin = make_url(url)
    name = f"{admin.database}_gw{index}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.set(database=name).render_as_string(hide_password=False)


def _redis_url_for_worker(url: str, index: int) -> str:
    """Worker ``index`` uses the database number below the configured one
    (15, 14, ...), so parallel workers never flush each other's keys."""
    parsed = urlsplit(url)
    number = int(parsed.path.strip("/") or 0) - index
    if number < 0:
        raise pytest.UsageError(
            f"TEST_REDIS_URL names database {number + index}: too low for "
            f"{index + 1} xdist workers (use a high number such as /15)"
        )
    return urlunsplit(parsed._replace(path=f"/{number}"))


@pytest.fixture(scope="session")
def backend(tmp_path_factory) -> Iterator[dict]:
    """The database URL (migrated once) and Redis URL the session runs on.

    Under pytest-xdist each worker gets its own PostgreSQL database and Redis
    database number, derived from ``TEST_DATABASE_URL``/``TEST_REDIS_URL``.
    """
    root = tmp_path_factory.mktemp("backend")
    database_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    worker = _xdist_worker_index()
    if worker is not None and database_url:
        database_url = _postgres_database_for_worker(
            normalise_database_url(database_url), worker
        )
    if worker is not None and redis_url:
        redis_url = _redis_url_for_worker(redis_url, worker)
    embedded_folder = None
    if not redis_url:
        embedded_folder = root / "redis"
        socket_path = embedded_redis.ensure_server(embedded_folder)
        redis_url = embedded_redis.socket_url(socket_path, db=0)
    if database_url:
        database_url = normalise_database_url(database_url)
        _postgres_reset_schema(database_url)
        template = None
    else:
        template = root / "template.db"
        database_url = f"sqlite:///{template}"
    migrate_app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis_url,
            "INSTANCE_PATH": str(root / "instance"),
        }
    )
    with migrate_app.app_context():
        upgrade()
        _db.engine.dispose()
    yield {"database_url": database_url, "redis_url": redis_url, "template": template}
    if embedded_folder is not None:
        embedded_redis.stop_server(embedded_folder)


def _clean_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = [
            name
            for (name,) in connection.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename != 'alembic_version'"
                )
            )
        ]
        # The audit log refuses TRUNCATE by trigger; only tests switch it off.
        connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        connection.execute(
            text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        )
        connection.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
    engine.dispose()


@pytest.fixture
def app_config(backend, tmp_path) -> dict:
    """Settings for this test's app; a test may change them before ``app``."""
    if backend["template"] is not None:
        database_file = tmp_path / "test.db"
        shutil.copyfile(backend["template"], database_file)
        database_url = f"sqlite:///{database_file}"
    else:
        database_url = backend["database_url"]
        _clean_postgres(database_url)
    redis_lib.Redis.from_url(backend["redis_url"]).flushdb()
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": backend["redis_url"],
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret-key-" + tmp_path.name,
        "MAIL_SERVER": None,
        "JOB_RETRY_INTERVALS": [0, 0],
        "SERVER_NAME": None,
    }


class IsolatedClient(FlaskClient):
    """A test client whose requests each get their own app context.

    The ``app`` fixture keeps an app context pushed for the test body, and
    Flask would reuse it for requests, sharing ``g`` and the database session
    between requests in a way production never does. Hiding the test's
    context for the length of each request restores production behaviour.
    """

    def open(self, *args, **kwargs):
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


@pytest.fixture
def app(app_config) -> Iterator[Flask]:
    app = create_app(app_config)
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def redis(app) -> redis_lib.Redis:
    return app.extensions["redis"]


@pytest.fixture
def queue(app) -> Queue:
    return Queue("default", connection=app.extensions["redis"])


@pytest.fixture
def run_jobs(app):
    """Run every queued job in this process, as ``portal worker --burst`` would."""
    from workers.runtime import InProcessWorker, bind_app

    def run() -> int:
        bind_app(app)
        worker = InProcessWorker(
            app.config["RQ_QUEUES"], connection=app.extensions["redis"]
        )
        worker.work(burst=True, with_scheduler=False)
        _db.session.expire_all()
        return worker.jobs_performed

    return run


@pytest.fixture
def factories(db) -> Factories:
    return Factories(db)


@pytest.fixture
def make_member(factories):
    return factories.make_member


@pytest.fixture
def make_company(factories):
    return factories.make_company


@pytest.fixture
def make_contact(factories):
    return factories.make_contact


def csrf_token_from(html: str) -> str:
    match = CSRF_PATTERN.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1) or match.group(2)


class AuthActions:
    """Log in and out through the real forms, CSRF token included."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def csrf_token(self, path: str = "/auth/login") -> str:
        return csrf_token_from(self.client.get(path).get_data(as_text=True))

    def login(self, email: str, password: str = "correct horse battery", **headers):
        token = self.csrf_token("/auth/login")
        return self.client.post(
            "/auth/login",
            data={"email": email, "password": password, "csrf_token": token},
            headers=headers,
        )

    def logout(self):
        token = self.csrf_token("/")
        return self.client.post("/auth/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def artifacts_dir() -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
