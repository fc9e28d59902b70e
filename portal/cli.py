"""The ``portal`` command: a Flask CLI group on the app factory.

Commands are registered on the group itself, so building an app registers
nothing and imports no command code. The commands that run background
processes (worker, scheduler, dev) live in ``workers.cli``: this module is the
only one under ``portal/`` that imports ``workers``.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from portal import create_app
from portal.extensions import db
from workers.cli import dev_command, scheduler_command, worker_command


def _create_app(*_args) -> Flask:
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
@click.option(
    "--org",
    "organisation_name",
    help="The member's organisation, created when no organisation has the name.",
)
@with_appcontext
def create_user_command(
    email: str,
    role: str,
    password: str | None,
    display_name: str | None,
    organisation_name: str | None,
):
    """Create a member account with a role (and, with --org, its organisation)."""
    from portal.audit import record_audit
    from portal.auth.services import EmailTaken, register_member
    from portal.billing.plans import PlanError, organisation_named
    from portal.models import Role
    from portal.models.base import utcnow

    organisation, created_org = None, False
    if organisation_name is not None:
        try:
            organisation, created_org = organisation_named(
                db.session,
                organisation_name,
                currency=current_app.config["DEFAULT_CURRENCY"],
            )
        except PlanError as bad:
            raise click.ClickException(bad.message) from bad
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        member = register_member(
            email,
            password,
            display_name or email.split("@")[0],
            role=Role(role),
            # Accounts an operator makes count as verified.
            verified_at=utcnow(),
            signup_grant=current_app.config["SIGNUP_GRANT_POINTS"],
        )
    except EmailTaken as exc:
        raise click.ClickException(f"{email} already has an account.") from exc
    details: dict = {"role": role}
    if organisation is not None:
        member.organisation = organisation
        details["organisation_id"] = organisation.id
    record_audit(
        "member.created_by_operator", actor=None, target=member, details=details
    )
    db.session.commit()
    click.echo(f"Created {member.email} ({role}).")
    if organisation is not None:
        verb = "Created organisation" if created_org else "Joined organisation"
        click.echo(f"{verb} {organisation.name!r} (id {organisation.id}).")
    if generated:
        click.echo(f"Password (shown once): {password}")


@click.command("reset-password")
@click.argument("email")
@click.option("--password", help="Omit to generate one (printed once).")
@with_appcontext
def reset_password_command(email: str, password: str | None):
    """Give an account a new password and log it out everywhere (for
    operators: a member locked out, a demo account whose password is lost)."""
    from portal.audit import record_audit
    from portal.auth.forms import PASSWORD_MAX, PASSWORD_MIN
    from portal.auth.services import change_password, end_all_sessions, find_member

    member = find_member(email)
    if member is None:
        raise click.ClickException(f"No account uses {email}.")
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise click.ClickException(
            f"Use a password of {PASSWORD_MIN} to {PASSWORD_MAX} characters."
        )
    change_password(member, password)
    ended = end_all_sessions(member)
    record_audit(
        "member.password_reset_by_operator",
        actor=None,
        target=member,
        details={"sessions_ended": ended},
    )
    db.session.commit()
    click.echo(f"New password set for {member.email}; {ended} session(s) ended.")
    if generated:
        click.echo(f"Password (shown once): {password}")


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
    from portal.auth.services import find_member
    from portal.points.services import adjust_points

    if delta == 0:
        raise click.BadParameter("must not be 0", param_hint="DELTA")
    if not reason.strip():
        raise click.BadParameter("must say why", param_hint="--reason")
    member = find_member(email)
    if member is None:
        raise click.ClickException(f"No member has the email {email}.")
    try:
        with ledger.write_transaction() as session:
            balance = adjust_points(session, member, delta, reason, actor=None)
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
    from portal.moderation.flags import FlagRules

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
        flag_rules=FlagRules.from_config(current_app.config),
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


@click.command("match")
@click.argument(
    "in_path", metavar="IN", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file with our values filled in and the tessera_* columns.",
)
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="HEADER=field",
    help="Map a column to a field (or '-' to leave it out); repeatable.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write one line per row: status, confidence, contact, field statuses.",
)
@with_appcontext
def match_command(
    in_path: Path, out_path: Path, mappings: tuple[str, ...], report_path: Path | None
) -> None:
    """Match a list file against the pool, as the list service does."""
    from portal.audit import record_audit
    from portal.csvfiles import CsvRejected
    from portal.lists import matchfile

    overrides = {}
    for item in mappings:
        heading, equals, wanted = item.rpartition("=")
        if not equals or not heading.strip():
            raise click.BadParameter(
                f"'{item}' is not HEADER=field", param_hint="--map"
            )
        overrides[heading.strip()] = wanted.strip()
    try:
        parsed = matchfile.open_list_file(in_path, overrides)
        click.echo(
            "Columns: "
            + ", ".join(
                f"{parsed.header.cells[i]} -> {name}"
                for i, name in parsed.header.columns.items()
            )
        )
        matched = matchfile.match_file(
            db.session, parsed, chunk_rows=current_app.config["MATCH_CHUNK_ROWS"]
        )
    except CsvRejected as exc:
        raise click.ClickException(f"{in_path}: {exc.message}") from exc
    except OSError as exc:
        raise click.ClickException(f"{in_path}: {exc.strerror or exc}") from exc
    try:
        with out_path.open("w", encoding="utf-8-sig", newline="") as out:
            matched.write(out)
        if report_path is not None:
            with report_path.open("w", encoding="utf-8-sig", newline="") as report:
                matched.write_report(report)
    except OSError as exc:
        raise click.ClickException(f"{exc.filename}: {exc.strerror}") from exc
    summary = matched.summary
    record_audit(
        "lists.matched_by_operator",
        actor=None,
        details={"file": in_path.name, **summary.as_dict()},
    )
    db.session.commit()
    counts = ", ".join(
        f"{count:,} {status}" for status, count in sorted(summary.statuses.items())
    )
    click.echo(
        f"Matched {summary.rows:,} rows in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s; {summary.cpu_seconds:.1f} CPU s, "
        f"{summary.rows_per_cpu_second:,.0f} rows per CPU second): {counts}; "
        f"match rate {summary.match_rate:.1%}."
    )
    for name, statuses in summary.fields.items():
        if statuses:
            click.echo(
                f"  {name}: "
                + ", ".join(f"{n:,} {status}" for status, n in sorted(statuses.items()))
            )
    click.echo(f"Output: {out_path}")
    if report_path is not None:
        click.echo(f"Report: {report_path}")
    click.echo(f"Peak memory: {_peak_memory_mb():,.0f} MB")


def _peak_memory_mb() -> float:
    """This process's peak resident memory (Linux: since its exec)."""
    import resource

    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


for command in (
    seed_command,
    create_user_command,
    reset_password_command,
    points_group,
    contacts_group,
    worker_command,
    scheduler_command,
    dev_command,
    match_command,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
