"""Helpers for tests that run real ``portal`` processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from portal import embedded_redis

# Seconds for a process to do its part: generous, because CI's 2 cores are
# shared by parallel test workers (a loaded run took minutes to start one).
DEADLINE = 300


def portal_env(instance: Path) -> dict[str, str]:
    """The environment of a fresh machine: no Redis or database configured,
    everything under ``instance``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL", "TEST_REDIS_URL"}
    }
    env["TESSERA_INSTANCE_PATH"] = str(instance)
    return env


def run_portal(instance: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``portal ARGS`` to completion on a fresh machine's settings."""
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", *args],
        env=portal_env(instance),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def redis_servers(folder: Path) -> list[str]:
    """Lines of ``ps`` for redis-server processes on ``folder``'s socket."""
    listing = subprocess.run(
        ["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=True
    ).stdout
    socket_path = str(embedded_redis.socket_path(folder))
    return [
        line.strip()
        for line in listing.splitlines()
        if "redis-server" in line and socket_path in line
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET; raises OSError when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
