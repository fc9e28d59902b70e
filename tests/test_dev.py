"""``portal dev``: everything for local use, run as real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis as redis_lib

from portal import embedded_redis
from portal.processes import is_running
from tests.processes import DEADLINE, free_port, http_get, portal_env, redis_servers
from workers.cli import SCHEDULER_NAME, Child, Supervisor


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


def children_of(pid: int) -> dict[str, int]:
    """The worker, scheduler and web server pids among ``pid``'s children."""
    listing = subprocess.run(
        ["ps", "-ww", "-o", "pid=,args=", "--ppid", str(pid)],
        capture_output=True,
        text=True,
    ).stdout
    found = {}
    for line in listing.splitlines():
        child_pid, args = line.strip().split(None, 1)
        for name in ("worker", "scheduler", "run"):
            if f"portal.cli {name}" in args:
                found[name] = int(child_pid)
    return found


def wait_for_new_child(dev_pid: int, name: str, old_pid: int) -> int:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        pid = children_of(dev_pid).get(name)
        if pid is not None and pid != old_pid:
            return pid
        time.sleep(0.5)
    raise AssertionError(f"no new {name} replaced pid {old_pid}")


def scheduler_registered_pid(instance: Path) -> int | None:
    client = redis_lib.Redis(unix_socket_path=str(embedded_redis.socket_path(instance)))
    try:
        raw = client.hget(f"rq:cron_scheduler:{SCHEDULER_NAME}", "pid")
    finally:
        client.close()
    return int(raw) if raw else None


def test_portal_dev_restarts_a_child_that_died(tmp_path):
    """SIGKILL dev's worker, then its scheduler: each is restarted under a new
    pid while the web server keeps answering; SIGTERM then stops everything,
    the embedded Redis included."""
    instance = tmp_path / "instance"
    port = free_port()
    process = start_dev(instance, port)
    try:
        wait_for_health(process, instance, port)
        children = children_of(process.pid)
        assert set(children) == {"worker", "scheduler", "run"}, children

        os.kill(children["worker"], signal.SIGKILL)
        new_worker = wait_for_new_child(process.pid, "worker", children["worker"])
        status, _ = http_get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200
        assert children_of(process.pid)["run"] == children["run"]

        deadline = time.monotonic() + DEADLINE
        while scheduler_registered_pid(instance) != children["scheduler"]:
            assert time.monotonic() < deadline, "the scheduler never registered"
            time.sleep(0.5)
        os.kill(children["scheduler"], signal.SIGKILL)
        new_scheduler = wait_for_new_child(
            process.pid, "scheduler", children["scheduler"]
        )
        # The killed scheduler's registration does not block its successor.
        while scheduler_registered_pid(instance) != new_scheduler:
            assert time.monotonic() < deadline + DEADLINE, "no scheduler took over"
            time.sleep(0.5)
        assert children_of(process.pid)["worker"] == new_worker
        status, _ = http_get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200
    finally:
        output = stop_dev(process, instance, signal.SIGTERM)
    assert process.returncode == 0, output
    assert (
        f"The worker (pid {children['worker']}) stopped: killed by SIGKILL." in output
    )
    assert f"Restarted the worker (pid {new_worker})." in output
    assert f"Restarted the scheduler (pid {new_scheduler})." in output
    assert "Stopped." in output
    for pid in (new_worker, new_scheduler, children["run"]):
        assert not is_running(pid), f"pid {pid} outlived portal dev"
    assert redis_servers(instance) == [], output


def test_supervisor_backs_off_while_a_child_keeps_dying(capsys):
    """A child that dies at once is restarted after 1, 2, 4 s, capped at the
    maximum; one that ran at least that long starts over at 1 s."""
    now = [1000.0]
    child = Child("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    supervisor = Supervisor(
        [child], dict(os.environ), max_delay=4, clock=lambda: now[0]
    )
    supervisor.start_all()
    delays = []
    for _ in range(4):
        child.process.wait(timeout=DEADLINE)
        supervisor.check()
        assert child.process is None
        delays.append(child.restart_at - now[0])
        now[0] = child.restart_at - 0.5
        supervisor.check()
        assert child.process is None, "restarted before its back-off passed"
        now[0] += 0.5
        supervisor.check()
        assert child.process is not None
    assert delays == [1, 2, 4, 4]

    child.process.wait(timeout=DEADLINE)
    now[0] += 10
    supervisor.check()
    assert child.restart_at - now[0] == 1
    supervisor.stop_all()
    assert "stopped: exit code 3. Restarting it in 1 s" in capsys.readouterr().err


def test_supervisor_stops_what_a_dead_child_left_behind(tmp_path):
    """When a child dies, the processes it started (a work horse) die with it."""
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import pathlib, subprocess, sys, time\n"
        "sleeper = subprocess.Popen([sys.executable, '-c', "
        "'import time; time.sleep(600)'])\n"
        f"pathlib.Path({str(pidfile)!r}).write_text(str(sleeper.pid))\n"
        "time.sleep(600)\n"
    )
    child = Child("parent", [sys.executable, "-c", code])
    supervisor = Supervisor([child], dict(os.environ), max_delay=60)
    supervisor.start_all()
    try:
        deadline = time.monotonic() + DEADLINE
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline, "the child never started its own"
            time.sleep(0.1)
        grandchild = int(pidfile.read_text())
        child.process.kill()
        child.process.wait(timeout=DEADLINE)
        supervisor.check()
        while is_running(grandchild) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not is_running(grandchild)
    finally:
        supervisor.stop_all()
