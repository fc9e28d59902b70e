"""``portal dev``: everything for local use, run as real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from portal import embedded_redis
from tests.processes import DEADLINE, free_port, http_get, portal_env, redis_servers


def _log(instance: Path) -> Path:
    return instance.parent / "dev.log"


def start_dev(instance: Path, port: int) -> subprocess.Popen:
    # Output goes to a file, not a pipe: nobody reads a pipe until the end,
    # and a full one would stall the server's logging and so the server.
    with _log(instance).open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "portal.cli", "dev", "--port", str(port)],
            env=portal_env(instance),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


def wait_for_health(process: subprocess.Popen, instance: Path, port: int) -> None:
    deadline = time.monotonic() + DEADLINE
    status = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            status, _ = http_get(f"http://127.0.0.1:{port}/healthz")
        except OSError:
            status = None
        if status == 200:
            return
        time.sleep(0.5)
    raise AssertionError(
        f"the dev server did not answer /healthz (last: {status}):\n"
        + _log(instance).read_text()
    )


def stop_dev(
    process: subprocess.Popen, instance: Path, sig: int = signal.SIGINT
) -> str:
    """Send ``sig`` to dev's process group (as Ctrl-C in a terminal does);
    returns what dev printed."""
    os.killpg(process.pid, sig)
    process.wait(timeout=DEADLINE)
    return _log(instance).read_text()


def test_portal_dev_runs_everything_and_stops_cleanly(tmp_path):
    """portal dev: migrates, loads demo data, serves, and stops all on Ctrl-C,
    the embedded Redis included."""
    instance = tmp_path / "instance"
    port = free_port()
    process = start_dev(instance, port)
    try:
        wait_for_health(process, instance, port)
        status, login = http_get(f"http://127.0.0.1:{port}/auth/login")
        assert status == 200 and "Log in" in login
        assert len(redis_servers(instance)) == 1
    finally:
        output = stop_dev(process, instance)
    assert process.returncode == 0, output
    assert "Demo accounts (passwords are shown only this once):" in output
    assert "admin@tessera.example" in output
    assert "Stopped." in output
    assert redis_servers(instance) == [], output
    assert not embedded_redis.socket_path(instance).exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, (
            "the web server still listens"
        )
