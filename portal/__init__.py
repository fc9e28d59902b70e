"""Tessera: the web portal. ``create_app`` is the only place wiring happens."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import embedded_redis
from portal.config import PROJECT_ROOT, load_settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build a configured app.

    ``config`` overrides settings read from the environment (tests pass their
    database and Redis URLs here). Without ``REDIS_URL`` the app uses the
    embedded Redis server under ``instance/``, which the first connection
    starts or joins (see ``portal.embedded_redis``).
    """
    settings = load_settings(config)
    app = Flask(
        "portal",
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=settings["INSTANCE_PATH"],
    )
    app.config.update(settings)
    if not app.config["REDIS_URL"]:
        # Started (or joined) on the first connection, not here: building the
        # app for a command that never touches Redis leaves nothing running.
        app.config["REDIS_URL"] = embedded_redis.socket_url(
            embedded_redis.socket_path(Path(app.instance_path))
        )
        app.config["REDIS_EMBEDDED"] = True
    app.config.setdefault(
        "RATELIMIT_STORAGE_URI", limiter_storage_uri(app.config["REDIS_URL"])
    )
    app.config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS", embedded_redis.client_options(app.config)
    )
    if app.config["PROXY_FIX"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    from portal import errors, routing, security, templating
    from portal.moderation.flags import FlagRules

    # A misspelt flag source or kind in the settings stops start-up here.
    FlagRules.from_config(app.config)
    routing.init_app(app)
    _init_extensions(app)
    _register_blueprints(app)

    security.init_app(app)
    errors.init_app(app)
    templating.init_app(app)
    return app


def limiter_storage_uri(redis_url: str) -> str:
    """Flask-Limiter names unix sockets ``redis+unix://``."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


def _init_extensions(app: Flask) -> None:
    from portal import queue
    from portal.auth.login import init_login_manager
    from portal.extensions import (
        csrf,
        db,
        htmx,
        limiter,
        login_manager,
        migrate,
        redis_connections,
    )

    db.init_app(app)
    with app.app_context():
        configure_engine(
            db.engine,
            busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"],
            lock_poll_ms=app.config["SQLITE_LOCK_POLL_MS"],
        )
    migrate.init_app(
        app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True
    )
    csrf.init_app(app)
    htmx.init_app(app)
    redis_connections.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    init_login_manager(login_manager)
    queue.init_app(app)


# Statements that write (or open a savepoint to write in): on SQLite the
# transaction takes the write lock before the first of them runs.
_SQLITE_WRITE_VERBS = frozenset(
    {"INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "CREATE", "DROP", "ALTER"}
)
_BEGIN_PENDING = "sqlite_begin_pending"


def configure_engine(
    engine: Engine, *, busy_timeout_ms: int = 30000, lock_poll_ms: int = 5
) -> None:
    """SQLite needs foreign keys switched on, WAL for readers beside a writer,
    and write transactions that start with ``BEGIN IMMEDIATE`` and wait.

    A deferred transaction that reads and then writes asks for the write lock
    too late: in WAL mode, if another writer committed meanwhile, SQLite
    answers "database is locked" at once instead of waiting the busy timeout.
    So SQLAlchemy, not the sqlite3 driver, emits BEGIN (the pattern in
    SQLAlchemy's SQLite docs): a transaction runs its reads without a lock and
    emits ``BEGIN IMMEDIATE`` just before its first write or savepoint. Read-only
    requests never take the lock; savepoints nest in the real transaction.
    ``sqlite_begin_immediate`` (see ``portal.ledger.write_transaction``) takes
    the lock at BEGIN, so the transaction's reads are consistent with its writes.

    SQLite's own busy handler backs off to polling every 100 ms, so a writer that
    commits and begins again at once (a job's batches) starves the others; the
    lock is asked for every ``lock_poll_ms`` instead, for up to
    ``busy_timeout_ms``.
    """
    if engine.dialect.name != "sqlite":
        return

    def begin_immediate(dbapi_connection) -> None:
        deadline = time.monotonic() + busy_timeout_ms / 1000
        dbapi_connection.execute(f"PRAGMA busy_timeout={lock_poll_ms}")
        try:
            while True:
                try:
                    dbapi_connection.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() >= deadline:
                        raise sa_exc.OperationalError(
                            "BEGIN IMMEDIATE", None, exc
                        ) from exc
        finally:
            dbapi_connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        # The driver must not emit BEGIN itself; the events below do.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        if connection.get_execution_options().get("sqlite_begin_immediate"):
            begin_immediate(connection.connection.dbapi_connection)
        else:
            connection.info[_BEGIN_PENDING] = True

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_before_first_write(
        connection, cursor, statement, parameters, context, executemany
    ):
        if not connection.info.get(_BEGIN_PENDING):
            return
        verb = statement.lstrip().split(None, 1)[0].upper() if statement else ""
        writes = verb in _SQLITE_WRITE_VERBS or (
            context is not None
            and (context.isinsert or context.isupdate or context.isdelete)
        )
        if writes:
            connection.info.pop(_BEGIN_PENDING, None)
            begin_immediate(cursor.connection)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _end(connection):
        connection.info.pop(_BEGIN_PENDING, None)


def _register_blueprints(app: Flask) -> None:
    from portal.account.routes import bp as account_bp
    from portal.admin.routes import bp as admin_bp
    from portal.auth.routes import bp as auth_bp
    from portal.billing.routes import bp as billing_bp
    from portal.companies.routes import bp as companies_bp
    from portal.contacts.mine import bp as my_bp
    from portal.contacts.routes import bp as contacts_bp
    from portal.jobs.routes import bp as jobs_bp
    from portal.lists.routes import bp as lists_bp
    from portal.main.routes import bp as main_bp
    from portal.moderation.routes import bp as moderation_bp
    from portal.org.routes import bp as org_bp
    from portal.points.routes import bp as points_bp
    from portal.privacy.admin_routes import bp as privacy_admin_bp
    from portal.privacy.consent_routes import bp as consent_bp
    from portal.privacy.routes import bp as privacy_bp
    from portal.search.routes import bp as search_bp

    for blueprint in (
        main_bp,
        auth_bp,
        account_bp,
        search_bp,
        contacts_bp,
        my_bp,
        companies_bp,
        points_bp,
        moderation_bp,
        admin_bp,
        billing_bp,
        org_bp,
        jobs_bp,
        lists_bp,
        privacy_bp,
        privacy_admin_bp,
        consent_bp,
    ):
        app.register_blueprint(blueprint)
