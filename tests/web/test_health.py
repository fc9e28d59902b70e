"""/healthz reports the database and Redis."""

from __future__ import annotations

import redis as redis_lib


def test_healthy(client):
    """Both services answer: 200 and ok for each."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_redis_down_gives_503(app, client):
    """Redis not answering: 503 naming Redis."""
    app.extensions["redis"] = redis_lib.Redis(host="127.0.0.1", port=1)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("error")


def test_database_down_gives_503(app_config):
    """The database not answering: 503 naming the database."""
    from portal import create_app

    broken = create_app(
        {
            **app_config,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/x",
        }
    )
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"].startswith("error")
