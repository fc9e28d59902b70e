"""The ``portal`` command: a Flask CLI group on the app factory."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import func, select

from portal import embedded_redis
from portal.extensions import db

DEMO_CONTACTS = 5000
DEMO_ACCOUNTS = (
    ("admin@tessera.example", "Ada Admin", "admin"),
    ("moderator@tessera.example", "Mo Moderator", "moderator"),
    ("orgadmin@tessera.example", "Olga Orgadmin", "org_admin"),
    ("member@tessera.example", "Max Member", "member"),
)


def _create_app(*_args) -> Flask:
    from portal import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app)
def main() -> None:
    """Tessera's command line."""


@click.command("seed")
@click.option(
    "--contacts", type=click.IntRange(min=1), required=True, help="How many contacts."
)
@click.option(
    "--seed", "seed", type=int, default=1, show_default=True, help="Random seed."
)
@with_appcontext
def seed_command(contacts: int, seed: int) -> None:
    """Create demo companies and contacts (deterministic for a given seed)."""
    from portal.demo import DemoDataExists, generate_demo_data

    def report(percent: int, message: str) -> None:
        click.echo(f"  {percent:3d}%  {message}")

    try:
        summary = generate_demo_data(contacts=contacts, seed=seed, progress=report)
    except DemoDataExists as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Created {summary.companies:,} companies and {summary.contacts:,} contacts "
        f"in {summary.seconds:.1f} s."
    )


@click.command("create-user")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice(["member", "org_admin", "moderator", "admin"]),
    default="member",
    show_default=True,
)
@click.option("--password", help="Omit to generate one (printed once).")
@click.option("--name", "display_name", help="Display name (default: from the email).")
@with_appcontext
def create_user_command(
    email: str, role: str, password: str | None, display_name: str | None
):
    """Create a member account with a role."""
    from portal.audit import record_audit
    from portal.auth.services import EmailTaken, register_member
    from portal.models import Role

    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        member = register_member(
            email,
            password,
            display_name or email.split("@")[0],
            role=Role(role),
            signup_grant=current_app.config["SIGNUP_GRANT_POINTS"],
        )
    except EmailTaken as exc:
        raise click.ClickException(f"{email} already has an account.") from exc
    record_audit(
        "member.created_by_operator", actor=None, target=member, details={"role": role}
    )
    db.session.commit()
    click.echo(f"Created {member.email} ({role}).")
    if generated:
        click.echo(f"Password (shown once): {password}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@click.option(
    "--queues", default=None, help="Comma-separated queue names (default: all)."
)
@with_appcontext
def worker_command(burst: bool, queues: str | None) -> None:
    """Run an RQ worker (with the scheduler) for this app."""
    from workers.runtime import AppWorker, bind_app

    app = current_app._get_current_object()
    bind_app(app)
    names = queues.split(",") if queues else app.config["RQ_QUEUES"]
    worker = AppWorker(names, connection=app.extensions["redis"])
    worker.work(burst=burst, with_scheduler=True)


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the cron scheduler that queues recurring jobs (run exactly one)."""
    from rq.cron import CronScheduler

    from workers.jobs import start_scheduled_job

    app = current_app._get_current_object()
    cron = CronScheduler(connection=app.extensions["redis"], name="tessera")
    for kind, schedule in app.config["SCHEDULED_JOBS"].items():
        cron.register(start_scheduled_job, "default", args=(kind,), cron=schedule)
    cron.start()


def create_demo_accounts() -> list[tuple[str, str, str]]:
    """Create one account per role; returns (email, role, password) rows."""
    from portal.auth.services import find_member, register_member
    from portal.models import Organisation, Role

    created = []
    organisation = Organisation(name="Demo Organisation")
    db.session.add(organisation)
    for email, name, role in DEMO_ACCOUNTS:
        if find_member(email) is not None:
            continue
        password = secrets.token_urlsafe(12)
        member = register_member(
            email,
            password,
            name,
            role=Role(role),
            signup_grant=current_app.config["SIGNUP_GRANT_POINTS"],
        )
        if role == "org_admin":
            member.organisation = organisation
        created.append((email, role, password))
    db.session.commit()
    return created


@click.command("dev")
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@with_appcontext
def dev_command(port: int, host: str) -> None:
    """Everything for local use: migrate, demo data, Redis, a worker, the web server."""
    from portal.demo import generate_demo_data
    from portal.models import Contact

    app = current_app._get_current_object()
    click.echo("Upgrading the database…")
    upgrade()
    if db.session.scalar(select(func.count()).select_from(Contact)) == 0:
        click.echo(f"Loading demo data ({DEMO_CONTACTS:,} contacts)…")
        generate_demo_data(contacts=DEMO_CONTACTS, seed=1)
        accounts = create_demo_accounts()
        if accounts:
            click.echo("\nDemo accounts (passwords are shown only this once):")
            for email, role, password in accounts:
                click.echo(f"  {role:<10} {email:<28} {password}")
            click.echo("")
    env = dict(os.environ, REDIS_URL=app.config["REDIS_URL"])
    env.setdefault("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
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
    _wait_then_stop(
        children,
        embedded=not os.environ.get("REDIS_URL"),
        folder=Path(app.instance_path),
    )


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
                child.kill()
        if embedded:
            embedded_redis.stop_server(folder)
        click.echo("Stopped.")


@click.group("points")
def points_group() -> None:
    """The points ledger."""


# ignore_unknown_options lets a negative DELTA ("-20") be read as the argument.
@points_group.command("adjust", context_settings={"ignore_unknown_options": True})
@click.argument("email")
@click.argument("delta", type=int)
@click.option(
    "--reason", required=True, help="Why; kept on the entry and in the audit log."
)
@with_appcontext
def points_adjust_command(email: str, delta: int, reason: str) -> None:
    """Add (or, with a negative DELTA, remove) vested points for a member."""
    from portal import ledger
    from portal.audit import record_audit
    from portal.auth.services import find_member
    from portal.models import EntryKind

    if delta == 0:
        raise click.BadParameter("must not be 0", param_hint="DELTA")
    if not reason.strip():
        raise click.BadParameter("must say why", param_hint="--reason")
    member = find_member(email)
    if member is None:
        raise click.ClickException(f"No member has the email {email}.")
    try:
        with ledger.write_transaction() as session:
            entry = ledger.record(
                session,
                member.id,
                delta,
                EntryKind.ADJUSTMENT,
                f"adjustment:{secrets.token_hex(16)}",
                note=reason.strip()[:500],
            )
            record_audit(
                "points.adjusted",
                actor=None,
                target=member,
                details={
                    "delta": delta,
                    "reason": reason.strip(),
                    "entry_id": entry.id,
                },
                session=session,
            )
            balance = ledger.vested_balance(session, member.id)
    except ledger.InsufficientPoints as exc:
        raise click.ClickException(
            f"{member.email} has {exc.available} vested points; "
            f"removing {exc.needed} would make the balance negative."
        ) from exc
    click.echo(f"{delta:+d} points for {member.email}; vested balance now {balance}.")


@click.group("contacts")
def contacts_group() -> None:
    """Contacts in the directory."""


@contacts_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every row not loaded as active (refused, duplicate, held) here.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per committed batch (default 20,000).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Processes checking rows; 0: none (default: one per CPU for big files).",
)
@with_appcontext
def contacts_import_command(
    file: Path,
    report_path: Path | None,
    batch_size: int | None,
    workers: int | None,
) -> None:
    """Load a CSV of contacts into the pool: a trusted operator import."""
    from portal.audit import record_audit
    from portal.contacts import operator_import
    from portal.csvfiles import CsvRejected, iter_csv
    from portal.models.base import utcnow

    started = time.perf_counter()
    try:
        parsed = operator_import.open_import_file(file)
    except CsvRejected as exc:
        raise click.ClickException(f"{file}: {exc.message}") from exc
    except OSError as exc:
        raise click.ClickException(f"{file}: {exc.strerror or exc}") from exc
    total = parsed.row_count or 0
    summary = operator_import.ImportSummary(total_rows=total, started=started)
    batch_size = batch_size or operator_import.BATCH_SIZE
    if workers is None:
        workers = operator_import.default_workers(total, batch_size)
    rows = operator_import.import_contacts(
        parsed,
        db.engine,
        suppression_key=current_app.config["SUPPRESSION_KEY"],
        now=utcnow(),
        summary=summary,
        batch_size=batch_size,
        workers=workers,
        progress=lambda done: click.echo(operator_import.progress_line(done)),
    )
    click.echo(f"Importing {summary.total_rows:,} rows from {file}…")
    if report_path is None:
        for _ in rows:
            pass
    else:
        try:
            report = report_path.open("w", encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise click.ClickException(f"{report_path}: {exc.strerror}") from exc
        with report:
            lines = (row.cells() for row in rows)
            for chunk in iter_csv(operator_import.REPORT_HEADER, lines):
                report.write(chunk)
    record_audit(
        "contacts.imported_by_operator",
        actor=None,
        details={"file": file.name, **summary.as_dict()},
    )
    db.session.commit()
    click.echo(operator_import.summary_line(summary))
    if report_path is not None:
        click.echo(f"Report: {report_path}")


def init_app(app: Flask) -> None:
    for command in (
        seed_command,
        create_user_command,
        worker_command,
        scheduler_command,
        dev_command,
        points_group,
        contacts_group,
    ):
        app.cli.add_command(command)


if __name__ == "__main__":
    main()
