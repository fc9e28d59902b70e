"""Tessera: the web portal. ``create_app`` is the only place wiring happens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event
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

    _init_extensions(app)
    _register_blueprints(app)

    from portal import errors, security, templating

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
        configure_engine(db.engine)
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


def configure_engine(engine: Engine) -> None:
    """SQLite needs foreign keys switched on, WAL for readers beside a writer,
    and a busy timeout so concurrent writers wait instead of failing."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):
        # Writers that must not race (the ledger) ask for the write lock at
        # BEGIN; see portal.ledger.write_transaction.
        if connection.get_execution_options().get("sqlite_begin_immediate"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def _register_blueprints(app: Flask) -> None:
    from portal.account.routes import bp as account_bp
    from portal.admin.routes import bp as admin_bp
    from portal.auth.routes import bp as auth_bp
    from portal.billing.routes import bp as billing_bp
    from portal.companies.routes import bp as companies_bp
    from portal.contacts.mine import bp as my_bp
    from portal.contacts.routes import bp as contacts_bp
    from portal.jobs.routes import bp as jobs_bp
    from portal.main.routes import bp as main_bp
    from portal.points.routes import bp as points_bp
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
        admin_bp,
        billing_bp,
        jobs_bp,
    ):
        app.register_blueprint(blueprint)
