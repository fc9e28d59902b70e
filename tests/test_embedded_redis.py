"""The embedded Redis: started by the first process that needs it, stopped by
the last one out, never left behind by a command (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal import create_app, embedded_redis
from tests.processes import DEADLINE, redis_servers, run_portal


@pytest.fixture
def instance(tmp_path) -> Iterator[Path]:
    folder = tmp_path / "instance"
    yield folder
    # Whatever a failing test left running is stopped, not leaked.
    embedded_redis.stop_server(folder)


@pytest.fixture
def sigterm_handler_restored() -> Iterator[None]:
    """Joining may install a SIGTERM handler in this process; put it back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def test_portal_help_starts_no_redis(instance):
    """`portal --help` builds the app but starts no embedded Redis."""
    result = run_portal(instance, "--help")
    assert result.returncode == 0, result.stderr
    assert "worker" in result.stdout
    assert redis_servers(instance) == []
    assert not embedded_redis.socket_path(instance).exists()


def test_one_off_commands_leave_no_redis_running(instance):
    """db upgrade, create-user and points adjust leave no redis-server behind."""
    steps = [
        ("db", "upgrade"),
        ("create-user", "ops@northwind.example", "--password", "a long password 1"),
        ("points", "adjust", "ops@northwind.example", "7", "--reason", "goodwill"),
    ]
    for args in steps:
        result = run_portal(instance, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        assert redis_servers(instance) == [], args
    assert "vested balance now 27" in result.stdout
    assert not embedded_redis.socket_path(instance).exists()


def test_a_command_that_uses_redis_stops_the_server_it_started(instance):
    """`portal worker --burst` starts the embedded Redis and stops it on exit."""
    assert run_portal(instance, "db", "upgrade").returncode == 0
    result = run_portal(instance, "worker", "--burst")
    assert result.returncode == 0, result.stderr
    assert "done, quitting" in result.stdout + result.stderr
    assert (instance / "redis.log").exists(), "the server never started"
    assert redis_servers(instance) == []


def _joined_child(instance: Path) -> subprocess.Popen:
    """A process that joins the embedded server and waits to be killed."""
    code = (
        "import sys, pathlib\n"
        "from portal import embedded_redis\n"
        "embedded_redis.join(pathlib.Path(sys.argv[1]))\n"
        "print('joined', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(instance)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "joined"
    return child


def _embedded_app(instance: Path, app_config: dict):
    return create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SQLALCHEMY_DATABASE_URI": app_config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": None,
        }
    )


def _wait_until_stopped(instance: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while redis_servers(instance) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_the_starter_leaves_the_server_to_a_live_user(
    instance, app_config, sigterm_handler_restored
):
    """An app without REDIS_URL starts the server on its first command; when
    it leaves while another process uses the server, the server keeps running
    until that process exits too."""
    app = _embedded_app(instance, app_config)
    assert app.config["REDIS_EMBEDDED"]
    assert redis_servers(instance) == []
    assert app.extensions["redis"].ping()
    assert len(redis_servers(instance)) == 1
    assert embedded_redis.users(instance) == [os.getpid()]

    child = _joined_child(instance)
    assert embedded_redis.users(instance) == sorted([os.getpid(), child.pid])
    assert embedded_redis.leave(instance) is False
    assert app.extensions["redis"].ping(), "the server stopped under a user"
    assert embedded_redis.users(instance) == [child.pid]

    child.communicate("", timeout=DEADLINE)  # the child exits normally
    assert child.returncode == 0
    _wait_until_stopped(instance)
    assert redis_servers(instance) == []
    assert embedded_redis.users(instance) == []
    app.extensions["redis"].connection_pool.disconnect()


def test_a_killed_user_does_not_keep_the_server_running(
    instance, app_config, sigterm_handler_restored
):
    """A user killed with SIGKILL never left; the next process out sees it is
    gone and stops the server."""
    app = _embedded_app(instance, app_config)
    assert app.extensions["redis"].ping()
    child = _joined_child(instance)
    child.kill()
    child.communicate(timeout=DEADLINE)
    assert len(redis_servers(instance)) == 1
    assert embedded_redis.users(instance) == [os.getpid()]
    assert embedded_redis.leave(instance) is True
    _wait_until_stopped(instance)
    assert redis_servers(instance) == []
    app.extensions["redis"].connection_pool.disconnect()


def test_an_app_after_an_embedded_one_keeps_its_own_redis(instance, app_config):
    """Apps built one after another in a process each talk to their own Redis:
    the limiter does not carry the embedded connection class over."""
    embedded = _embedded_app(instance, app_config)
    plain = create_app({**app_config, "INSTANCE_PATH": str(instance.parent / "plain")})
    for app in (embedded, plain):
        options = app.config["RATELIMIT_STORAGE_OPTIONS"]
        pool = app.extensions["redis"].connection_pool
        assert options["connection_class"] is pool.connection_class
    assert plain.extensions["redis"].connection_pool.connection_class is not (
        embedded_redis.JoiningConnection
    )
    with plain.test_request_context():
        from portal.extensions import limiter

        assert limiter.storage.check()
    assert redis_servers(instance) == [], "the plain app joined the embedded one"
