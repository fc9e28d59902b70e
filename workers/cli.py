"""The commands that run background processes: ``portal worker``,
``portal scheduler`` and ``portal dev`` (which supervises all of them).

They live next to the worker runtime; ``portal.cli`` adds them to the
``portal`` group (the only place under ``portal/`` that imports ``workers``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from rq.cron import CronScheduler
from sqlalchemy import func, select

from portal import embedded_redis
from portal.demo import create_demo_accounts, generate_demo_data
from portal.extensions import db
from portal.models import Contact
from workers.jobs import start_scheduled_job
from workers.runtime import AppWorker, bind_app

DEMO_CONTACTS = 5000


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
    cron = CronScheduler(connection=app.extensions["redis"], name="tessera")
    register_recurring_jobs(cron, app)
    cron.start()


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
            click.echo("")
    folder = Path(app.instance_path)
    env = dict(os.environ, TESSERA_INSTANCE_PATH=str(folder))
    env.setdefault("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    if app.config["REDIS_EMBEDDED"]:
        # dev starts the embedded server; its children join it on their first
        # connection, and dev stops it when everything has stopped.
        embedded_redis.join(folder)
        click.echo(f"Embedded Redis on {embedded_redis.socket_path(folder)}")
    else:
        env["REDIS_URL"] = app.config["REDIS_URL"]
    python = sys.executable
    children = [
        subprocess.Popen([python, "-m", "portal.cli", "worker"], env=env),
        subprocess.Popen([python, "-m", "portal.cli", "scheduler"], env=env),
        subprocess.Popen(
            [
                python,
                "-m",
                "portal.cli",
                "run",
                "--host",
                host,
                "--port",
                str(port),
                "--no-reload",
                "--with-threads",
            ],
            env=env,
        ),
    ]
    click.echo(f"Tessera is running at http://{host}:{port}/ — press Ctrl-C to stop.")
    _wait_then_stop(children, embedded=app.config["REDIS_EMBEDDED"], folder=folder)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _wait_then_stop(
    children: list[subprocess.Popen], *, embedded: bool, folder: Path
) -> None:
    """Wait until a child exits or Ctrl-C/SIGTERM, then stop everything."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("\nStopping…")
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                # Reap it: until then it still counts as a user of the
                # embedded Redis below, which would then be left running.
                child.kill()
                child.wait()
        if embedded:
            embedded_redis.leave(folder)
            if others := embedded_redis.users(folder):
                click.echo(
                    "The embedded Redis keeps running: other processes use it "
                    f"(pids {', '.join(map(str, others))})."
                )
        click.echo("Stopped.")
