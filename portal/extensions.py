"""Extensions, created bare here and bound to an app in ``create_app``."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from portal import embedded_redis


class Base(DeclarativeBase):
    # Named constraints keep Alembic migrations portable between SQLite and
    # PostgreSQL (batch mode needs names to drop or alter constraints).
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()
limiter = Limiter(key_func=get_remote_address)


class RedisConnections:
    """One Redis connection pool per app, at ``app.extensions['redis']``."""

    def init_app(self, app: Flask) -> None:
        app.extensions["redis"] = redis.Redis.from_url(
            app.config["REDIS_URL"], **embedded_redis.client_options(app.config)
        )


redis_connections = RedisConnections()


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]
