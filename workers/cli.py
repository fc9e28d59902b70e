"""The commands that run background processes: ``portal worker``,
``portal scheduler`` and ``portal dev`` (which supervises all of them).

They live next to the worker runtime; ``portal.cli`` adds them to the
``portal`` group (the only place under ``portal/`` that imports ``workers``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from rq import cron_scheduler_registry
from rq.cron import CronScheduler
from sqlalchemy import func, select

from portal import embedded_redis
from portal.demo import create_demo_accounts, generate_demo_data
from portal.extensions import db
from portal.models import Contact
from portal.processes import is_running
from workers.jobs import start_scheduled_job
from workers.runtime import AppWorker, bind_app

DEMO_CONTACTS = 5000
# One cron scheduler per deployment: a second one of this name refuses to start.
SCHEDULER_NAME = "tessera"


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@click.option(
    "--queues", default=None, help="Comma-separated queue names (default: all)."
)
@with_appcontext
def worker_command(burst: bool, queues: str | None) -> None:
    """Run an RQ worker (with the scheduler) for this app."""
    app = current_app._get_current_object()
    bind_app(app)
    names = queues.split(",") if queues else app.config["RQ_QUEUES"]
    worker = AppWorker(names, connection=app.extensions["redis"])
    worker.work(burst=burst, with_scheduler=True)


def register_recurring_jobs(cron: CronScheduler, app: Flask) -> None:
    """Register every recurring job of ``SCHEDULED_JOBS`` (kind -> cron
    expression) on ``cron``; each is queued as an ordinary tracked run."""
    for kind, schedule in app.config["SCHEDULED_JOBS"].items():
        cron.register(start_scheduled_job, "default", args=(kind,), cron=schedule)


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the cron scheduler that queues recurring jobs (run exactly one)."""
    app = current_app._get_current_object()
    cron = CronScheduler(connection=app.extensions["redis"], name=SCHEDULER_NAME)
    register_recurring_jobs(cron, app)
    claim_scheduler_name(cron)
    cron.start()


def claim_scheduler_name(cron: CronScheduler) -> None:
    """Make sure no other scheduler of ``cron``'s name runs, so exactly one
    queues the recurring jobs.

    A registration whose heartbeat is over two minutes old is dropped, and so
    is one left by a scheduler on this host whose process is gone (one killed
    without warning would otherwise block its successor for two minutes).
    Raises ``click.ClickException`` while another one runs.
    """
    connection = cron.connection
    registry = cron_scheduler_registry.get_registry_key()
    cron_scheduler_registry.cleanup(connection)
    if connection.zscore(registry, cron.name) is None:
        return
    previous = CronScheduler(connection=connection, name=cron.name)
    previous.restore(connection.hgetall(cron.key))
    if previous.hostname == cron.hostname and not is_running(previous.pid):
        connection.zrem(registry, cron.name)
        return
    raise click.ClickException(
        f"Another portal scheduler ({cron.name}) is running (pid {previous.pid} "
        f"on {previous.hostname or 'an unknown host'}); run exactly one."
    )


@click.command("dev")
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@with_appcontext
def dev_command(port: int, host: str) -> None:
    """Everything for local use: migrate, demo data, Redis, a worker, the web server."""
    app = current_app._get_current_object()
    click.echo("Upgrading the database…")
    upgrade()
    if db.session.scalar(select(func.count()).select_from(Contact)) == 0:
        click.echo(f"Loading demo data ({DEMO_CONTACTS:,} contacts)…")
        generate_demo_data(contacts=DEMO_CONTACTS, seed=1)
        accounts = create_demo_accounts(app.config["SIGNUP_GRANT_POINTS"])
        db.session.commit()
        if accounts:
            click.echo("\nDemo accounts (passwords are shown only this once):")
            for email, role, password in accounts:
                click.echo(f"  {role:<10} {email:<28} {password}")
            click.echo(
                "Lost one later? `portal reset-password EMAIL` prints a new one.\n"
            )
    folder = Path(app.instance_path)
    env = dict(os.environ, TESSERA_INSTANCE_PATH=str(folder))
    env.setdefault("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    # Emailed links point at the server dev runs, on whatever port, unless
    # PUBLIC_URL says otherwise.
    env.setdefault("PUBLIC_URL", f"http://{host}:{port}")
    if app.config["REDIS_EMBEDDED"]:
        # dev starts the embedded server; its children join it on their first
        # connection, and dev stops it when everything has stopped.
        embedded_redis.join(folder)
        click.echo(f"Embedded Redis on {embedded_redis.socket_path(folder)}")
    else:
        env["REDIS_URL"] = app.config["REDIS_URL"]
    portal = [sys.executable, "-m", "portal.cli"]
    server = ["run", "--host", host, "--port", str(port), "--no-reload"]
    supervisor = Supervisor(
        [
            Child("worker", [*portal, "worker"]),
            Child("scheduler", [*portal, "scheduler"]),
            Child("web server", [*portal, *server, "--with-threads"]),
        ],
        env,
        max_delay=app.config["DEV_RESTART_MAX_DELAY_SECONDS"],
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        supervisor.start_all()
        click.echo(f"Tessera is running at http://{host}:{port}/ (Ctrl-C stops it).")
        supervisor.run_until_interrupted()
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("\nStopping…")
        supervisor.stop_all()
        if app.config["REDIS_EMBEDDED"]:
            embedded_redis.leave(folder)
            if others := embedded_redis.users(folder):
                click.echo(
                    "The embedded Redis keeps running: other processes use it "
                    f"(pids {', '.join(map(str, others))})."
                )
        click.echo("Stopped.")


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of a child's process group (a work horse, RQ's
    scheduler process); nothing if the group is empty."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass
class Child:
    """A process that ``portal dev`` keeps running."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started: float = 0.0
    # Deaths in a row, each soon after its start; sets the back-off.
    quick_deaths: int = 0
    restart_at: float | None = None


class Supervisor:
    """Runs ``portal dev``'s children and restarts one that dies.

    A child that dies is restarted after 1 s, then 2, 4, ... up to
    ``max_delay`` seconds while it keeps dying soon after starting; one that
    ran at least ``max_delay`` seconds starts over at 1 s. Each child runs in a
    process group of its own, so what it leaves behind when it dies (a work
    horse, RQ's scheduler process) is stopped with it, and Ctrl-C reaches only
    ``portal dev``, which stops the children in order.
    """

    def __init__(
        self,
        children: list[Child],
        env: dict[str, str],
        *,
        max_delay: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.children = children
        self.env = env
        self.max_delay = max_delay
        self.clock = clock

    def start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.argv, env=self.env, process_group=0)
        child.started = self.clock()
        child.restart_at = None

    def start_all(self) -> None:
        for child in self.children:
            self.start(child)

    def check(self) -> None:
        """Notice children that died (and schedule their restart); restart
        those whose back-off has passed."""
        now = self.clock()
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                self._died(child, now)
            elif child.restart_at is not None and now >= child.restart_at:
                self.start(child)
                assert child.process is not None
                click.echo(f"Restarted the {child.name} (pid {child.process.pid}).")

    def _died(self, child: Child, now: float) -> None:
        assert child.process is not None
        pid, returncode = child.process.pid, child.process.returncode
        _kill_group(pid)
        if now - child.started >= self.max_delay:
            child.quick_deaths = 0
        delay = min(2**child.quick_deaths, self.max_delay)
        child.quick_deaths += 1
        child.process = None
        child.restart_at = now + delay
        click.echo(
            f"The {child.name} (pid {pid}) stopped: {describe_exit(returncode)}. "
            f"Restarting it in {delay:g} s; the rest keeps running.",
            err=True,
        )

    def run_until_interrupted(self, interval: float = 0.5) -> None:
        """Supervise until Ctrl-C (or SIGTERM, with ``_interrupt`` installed)."""
        try:
            while True:
                self.check()
                time.sleep(interval)
        except KeyboardInterrupt:
            pass

    def stop_all(self, timeout: float = 15) -> None:
        """SIGTERM every child, wait up to ``timeout`` seconds, then SIGKILL
        what is left of each child's process group."""
        running = [
            child.process
            for child in self.children
            if child.process is not None and child.process.poll() is None
        ]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = self.clock() + timeout
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - self.clock()))
        for child in self.children:
            if child.process is not None:
                _kill_group(child.process.pid)
                child.process.wait()
                child.process = None
            child.restart_at = None


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
