"""The ``portal`` command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from flask_migrate import upgrade
from sqlalchemy import func, select

from portal import ledger
from portal.auth.services import start_session, verify_password
from portal.cli import create_user_command, reset_password_command, seed_command
from portal.demo import DEMO_ACCOUNTS, create_demo_accounts
from portal.models import (
    AuditEntry,
    Company,
    Contact,
    Member,
    MemberSession,
    Organisation,
    Role,
)
from tests.processes import DEADLINE


def test_create_user_with_password(app, db):
    """create-user makes an account with the role and password given."""
    result = app.test_cli_runner().invoke(
        create_user_command,
        [
            "boss@northwind.example",
            "--role",
            "admin",
            "--password",
            "a long password 1",
        ],
    )
    assert result.exit_code == 0, result.output
    member = db.session.scalar(select(Member))
    assert member.role == Role.ADMIN
    assert verify_password(member.password_hash, "a long password 1")
    assert db.session.scalar(select(AuditEntry.action)) == "member.created_by_operator"


def test_operator_made_accounts_are_verified_with_their_grant(app, db):
    """create-user and portal dev's demo accounts need no emailed link: they
    are verified at creation and hold the sign-up grant."""
    result = app.test_cli_runner().invoke(
        create_user_command, ["ops@northwind.example", "--password", "x" * 12]
    )
    assert result.exit_code == 0, result.output
    create_demo_accounts(signup_grant=20)
    db.session.commit()
    members = db.session.scalars(select(Member)).all()
    assert len(members) == 1 + len(DEMO_ACCOUNTS)
    for member in members:
        assert member.email_verified_at is not None, member.email
        assert ledger.vested_balance(db.session, member.id) == 20


def test_create_user_generates_and_prints_password(app, db):
    """Without --password one is generated and printed once."""
    result = app.test_cli_runner().invoke(
        create_user_command, ["mod@northwind.example", "--role", "moderator"]
    )
    assert result.exit_code == 0, result.output
    password = result.output.split("Password (shown once): ")[1].strip()
    member = db.session.scalar(select(Member))
    assert verify_password(member.password_hash, password)


def test_create_user_refuses_duplicates_and_bad_roles(app, make_member):
    """A taken email or unknown role is a clear error, not a traceback."""
    make_member(email="dup@northwind.example")
    runner = app.test_cli_runner()
    taken = runner.invoke(create_user_command, ["dup@northwind.example"])
    assert taken.exit_code != 0 and "already has an account" in taken.output
    bad = runner.invoke(create_user_command, ["x@northwind.example", "--role", "king"])
    assert bad.exit_code != 0 and "Invalid value for '--role'" in bad.output


def test_reset_password_sets_a_new_one_and_ends_sessions(app, db, make_member):
    """reset-password gives the account a generated password (printed once),
    logs it out everywhere and writes the audit log; an unknown email and a
    short password are refused."""
    member = make_member(email="locked.out@northwind.example")
    start_session(member, "127.0.0.1", "test")
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(reset_password_command, ["Locked.Out@northwind.example"])
    assert result.exit_code == 0, result.output
    assert "1 session(s) ended" in result.output
    password = result.output.split("Password (shown once): ")[1].strip()
    db.session.expire_all()
    assert verify_password(db.session.get(Member, member.id).password_hash, password)
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(MemberSession)
            .where(MemberSession.revoked_at.is_(None))
        )
        == 0
    )
    assert (
        "member.password_reset_by_operator"
        in db.session.scalars(select(AuditEntry.action)).all()
    )
    unknown = runner.invoke(reset_password_command, ["nobody@northwind.example"])
    assert unknown.exit_code != 0 and "No account uses" in unknown.output
    short = runner.invoke(
        reset_password_command, ["locked.out@northwind.example", "--password", "x"]
    )
    assert short.exit_code != 0 and "10 to 128" in short.output


def test_create_user_creates_or_joins_the_organisation(app, db):
    """--org creates the organisation the first time (in the default currency)
    and attaches later members to it, whatever their role."""
    runner = app.test_cli_runner()
    first = runner.invoke(
        create_user_command,
        ["olga@northwind.example", "--role", "org_admin", "--org", "Northwind"],
    )
    assert first.exit_code == 0, first.output
    assert "Created organisation 'Northwind'" in first.output
    second = runner.invoke(
        create_user_command, ["max@northwind.example", "--org", "  northwind "]
    )
    assert second.exit_code == 0, second.output
    assert "Joined organisation 'Northwind'" in second.output
    organisations = db.session.scalars(select(Organisation)).all()
    assert [(o.name, o.currency) for o in organisations] == [("Northwind", "EUR")]
    members = db.session.scalars(select(Member).order_by(Member.id)).all()
    assert [(m.role, m.organisation_id) for m in members] == [
        (Role.ORG_ADMIN, organisations[0].id),
        (Role.MEMBER, organisations[0].id),
    ]


def test_create_user_refuses_a_blank_organisation(app, db):
    """A blank --org is a clear error and creates nobody."""
    result = app.test_cli_runner().invoke(
        create_user_command, ["x@northwind.example", "--org", "  "]
    )
    assert result.exit_code != 0 and "Give the organisation a name" in result.output
    assert db.session.scalar(select(func.count(Member.id))) == 0


def test_seed_command_creates_contacts(app, db):
    """portal seed creates exactly the contacts asked for."""
    result = app.test_cli_runner().invoke(
        seed_command, ["--contacts", "300", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 300
    assert db.session.scalar(select(func.count()).select_from(Company)) >= 1
    again = app.test_cli_runner().invoke(
        seed_command, ["--contacts", "300", "--seed", "4"]
    )
    assert again.exit_code != 0 and "already loaded" in again.output


def test_db_upgrade_on_an_existing_database_is_a_no_op(app, db, make_member):
    """Upgrading an up-to-date database keeps its data."""
    make_member(email="keep@northwind.example")
    upgrade()
    assert db.session.scalar(select(Member.email)) == "keep@northwind.example"


def test_points_adjust_writes_entry_and_audit(app, db, make_member):
    """points adjust moves vested points, with the reason on entry and audit."""
    from portal import ledger
    from portal.cli import points_group
    from portal.models import LedgerEntry

    member = make_member(email="pts@northwind.example")
    runner = app.test_cli_runner()
    result = runner.invoke(
        points_group, ["adjust", "pts@northwind.example", "15", "--reason", "goodwill"]
    )
    assert result.exit_code == 0, result.output
    assert "vested balance now 15" in result.output
    db.session.expire_all()
    assert ledger.vested_balance(db.session, member.id) == 15
    assert db.session.scalar(select(LedgerEntry.note)) == "goodwill"
    audit = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "points.adjusted")
    )
    assert audit.details["delta"] == 15 and audit.details["reason"] == "goodwill"

    overdraw = runner.invoke(
        points_group, ["adjust", "pts@northwind.example", "-20", "--reason", "oops"]
    )
    assert (
        overdraw.exit_code != 0 and "would make the balance negative" in overdraw.output
    )
    db.session.expire_all()
    assert ledger.vested_balance(db.session, member.id) == 15
    unknown = runner.invoke(
        points_group, ["adjust", "no@x.example", "5", "--reason", "r"]
    )
    assert unknown.exit_code != 0 and "No member has the email" in unknown.output


def test_portal_scheduler_registers_the_vesting_job(app_config, redis):
    """portal scheduler announces itself in Redis with the vesting, allowance
    and expiry jobs and the reconciler on their cron schedules, and stops
    cleanly on Ctrl-C."""
    import json

    env = dict(
        os.environ,
        DATABASE_URL=app_config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app_config["REDIS_URL"],
        TESSERA_INSTANCE_PATH=app_config["INSTANCE_PATH"],
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + DEADLINE
        jobs = None
        while time.monotonic() < deadline and jobs is None and process.poll() is None:
            raw = redis.hget("rq:cron_scheduler:tessera", "cron_jobs")
            jobs = json.loads(raw) if raw else None
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=DEADLINE)
    assert jobs is not None, output
    assert sorted((job["func_name"], job["cron"]) for job in jobs) == [
        ("workers.jobs.start_scheduled_job", "*/2 * * * *"),  # privacy notices
        ("workers.jobs.start_scheduled_job", "*/5 * * * *"),
        ("workers.jobs.start_scheduled_job", "15 0 * * *"),
        ("workers.jobs.start_scheduled_job", "20 * * * *"),  # list refreshes
        ("workers.jobs.start_scheduled_job", "30 2 * * *"),  # the quality sweep
        ("workers.jobs.start_scheduled_job", "35 1 * * *"),  # list retention
        ("workers.jobs.start_scheduled_job", "45 0 * * *"),
        ("workers.jobs.start_scheduled_job", "5 0 * * *"),  # the daily roll-up
        ("workers.jobs.start_scheduled_job", "7 * * * *"),
    ]
    assert process.returncode == 0, output


def test_building_the_app_imports_no_command_or_worker_code(tmp_path):
    """create_app registers no commands: the app imports neither portal.cli nor
    workers (the import circle portal -> cli -> workers -> portal is gone)."""
    probe = (
        "import sys\n"
        "from portal import create_app\n"
        f"create_app({{'INSTANCE_PATH': {str(tmp_path)!r}, "
        "'REDIS_URL': 'redis://127.0.0.1:1/0'})\n"
        "loaded = sorted(name for name in sys.modules\n"
        "    if name == 'portal.cli' or name.split('.')[0] == 'workers')\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=True,
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_portal_group_lists_every_command(tmp_path, monkeypatch):
    """The console script's group carries the commands itself, moved ones too."""
    from click.testing import CliRunner

    from portal.cli import main

    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in (
        "dev",
        "worker",
        "scheduler",
        "db",
        "seed",
        "create-user",
        "reset-password",
        "points",
        "contacts",
    ):
        assert f"  {name} " in result.output
