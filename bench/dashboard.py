"""How fast the admin dashboard renders over a million contacts and five
million ledger entries, on SQLite and PostgreSQL.

    python bench/dashboard.py [--contacts 1000000] [--ledger 5000000]
        [--backends sqlite,postgresql] [--requests 60] [--seed 1] [--reload]
        [--load-only]

The contacts are the seeded pool of ``bench/pool.py`` (``generate_demo_data``),
loaded once per backend and reused: SQLite in
``$TMPDIR/tessera-bench-dashboard/``, PostgreSQL in ``tessera_bench_dashboard``.
On top of them, bulk-inserted (COPY on PostgreSQL) over the last two years:
5,000 members and 50,000 log-ins, one contribution revision per contact,
200,000 reveals, ``--ledger`` ledger entries (sign-up grants, a contribution
entry per revision, a charge and a royalty per reveal, updates for the rest;
pending for the last 14 days, then vested; 2% voided), 25,000 flags (3,000
still open or claimed) and 10,000 job runs.

The daily roll-up job's work (``roll_up_daily_metrics``) is run and timed,
then the full ``GET /admin`` page is fetched through the test client as a
logged-in admin, ``--requests`` times each for the default 30 days, the last
365 days, and the 30-day htmx fragment, after five warm-up requests. Prints
p50, p95 and max per backend and range, and how long counting 30 days live
(without the roll-up) takes, for comparison.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import flask_migrate
import sqlalchemy as sa
from pool import BenchPool
from report import print_columns

from portal import create_app
from portal.admin import metrics
from portal.auth.services import hash_password
from portal.dialects import bulk_writer
from portal.extensions import db
from portal.models import Member, Role
from portal.models.base import utcnow

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_bench_dashboard"
REDIS_URL = "redis://127.0.0.1:6379/8"
BACKENDS = ("sqlite", "postgresql")
POOL = BenchPool("dashboard")
ADMIN_EMAIL = "dashboard-bench@tessera.example"
ADMIN_PASSWORD = "dashboard bench password"  # noqa: S105 (a bench-only account)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

DAY = 86400
SPAN_DAYS = 730
MEMBERS = 5_000
LOGINS = 50_000
REVEALS = 200_000
FLAGS, WAITING_FLAGS = 25_000, 3_000
JOB_RUNS = 10_000
VESTING_DAYS = 14
BATCH = 100_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--ledger", type=int, default=5_000_000)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument(
        "--load-only", action="store_true", help="load the data, time nothing"
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := sorted(set(backends) - set(BACKENDS)):
        parser.error(f"unknown backend(s): {', '.join(unknown)}")

    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for backend in backends:
        url = POOL.database_url(backend, args.contacts, args.seed, args.postgres_url)
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "REDIS_URL": REDIS_URL,
                "INSTANCE_PATH": str(POOL.sqlite_folder / "instance"),
                "RATELIMIT_ENABLED": False,
            }
        )
        with app.app_context():
            try:
                prepare(backend, args)
                if args.load_only:
                    continue
                first_run = metrics.rolled_up_through(db.session) is None
                rolled = time_roll_up()
                live = time_live_count()
                what = (
                    "first run: every day since the first row"
                    if first_run
                    else "the days since the last run and the last 30 again"
                )
                notes.append(
                    f"{backend}: roll-up job {rolled:.1f} s ({what}); counting "
                    f"30 days live instead: {live * 1000:.0f} ms"
                )
                rows.extend(time_pages(app, backend, args.requests))
            finally:
                db.session.remove()
                db.engine.dispose()
    print()
    print(
        f"GET /admin, {args.contacts:,} contacts, {args.ledger:,} ledger entries, "
        f"{args.requests} requests each (ms)"
    )
    print_columns(("backend", "page", "p50", "p95", "max"), rows)
    print()
    print("\n".join(notes))
    return 0


def prepare(backend: str, args: argparse.Namespace) -> None:
    """The pool with its activity rows, loaded unless already there."""
    if args.reload or not POOL.is_loaded(args.contacts, args.seed):
        db.session.rollback()
        print(f"{backend}: loading {args.contacts:,} contacts ...", flush=True)
        print(f"{backend}: loaded in {POOL.load(args.contacts, args.seed):.1f} s")
    else:
        db.session.rollback()
        flask_migrate.upgrade()
        print(f"{backend}: reusing the contacts at {db.engine.url}", flush=True)
    entries = db.session.scalar(sa.text("SELECT count(*) FROM ledger_entries"))
    if entries != args.ledger:
        db.session.rollback()
        print(f"{backend}: adding activity and {args.ledger:,} ledger entries ...")
        started = time.perf_counter()
        load_activity(args.ledger, args.seed)
        print(f"{backend}: activity loaded in {time.perf_counter() - started:.1f} s")
    ensure_admin()


def load_activity(ledger_rows: int, seed: int) -> None:
    """Members, log-ins, revisions, reveals, ledger entries, flags, job runs."""
    for table in (
        "daily_metrics",
        "ledger_entries",
        "point_balances",
        "unlocks",
        "flags",
        "contact_revisions",
        "member_sessions",
        "job_runs",
        "audit_entries",
        "members",
    ):
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608
    rng = random.Random(f"{seed}:dashboard")
    now_ts = int(datetime.now(UTC).timestamp())
    start_ts = now_ts - SPAN_DAYS * DAY
    with db.engine.connect() as conn:
        writer = bulk_writer(conn)
        ts = writer.timestamp

        def insert(table: str, columns: tuple[str, ...], rows: Iterator[tuple]):
            if conn.in_transaction():  # ended: the reads before it autobegan one
                conn.commit()
            batch: list[tuple] = []
            for row in rows:
                batch.append(row)
                if len(batch) == BATCH:
                    with conn.begin():
                        writer.insert(table, columns, batch)
                    batch = []
            if batch:
                with conn.begin():
                    writer.insert(table, columns, batch)

        member_created = sorted(rng.randrange(start_ts, now_ts) for _ in range(MEMBERS))
        insert(
            "members",
            ("email", "password_hash", "display_name", "pseudonym", "role", "status")
            + ("created_at",),
            (
                (
                    f"bench-member-{n}@tessera-bench.example",
                    "!",
                    f"Bench member {n}",
                    f"{n:04X}"[-4:],
                    "member",
                    "suspended" if n % 100 == 0 else "active",
                    ts(created),
                )
                for n, created in enumerate(member_created)
            ),
        )
        member_ids = list(conn.scalars(sa.text("SELECT id FROM members ORDER BY id")))
        joined = dict(zip(member_ids, member_created, strict=True))
        contact_ids = list(conn.scalars(sa.text("SELECT id FROM contacts")))
        print(f"  {MEMBERS:,} members", flush=True)

        def member_and_time() -> tuple[int, int]:
            member = rng.choice(member_ids)
            return member, rng.randrange(joined[member], now_ts)

        insert(
            "member_sessions",
            ("member_id", "token_hash", "created_at"),
            (
                (member, f"bench-{n:058d}", ts(when))
                for n, (member, when) in enumerate(
                    sorted(
                        (member_and_time() for _ in range(LOGINS)), key=lambda r: r[1]
                    )
                )
            ),
        )
        print(f"  {LOGINS:,} log-ins", flush=True)

        revisions = sorted(
            ((c, *member_and_time()) for c in contact_ids), key=lambda r: r[2]
        )
        insert(
            "contact_revisions",
            ("contact_id", "member_id", "kind", "source", "fields", "created_at"),
            ((c, m, "contribution", "form", "{}", ts(w)) for c, m, w in revisions),
        )
        print(f"  {len(revisions):,} revisions", flush=True)

        pairs: set[tuple[int, int]] = set()
        while len(pairs) < min(REVEALS, len(contact_ids) * MEMBERS):
            pairs.add((rng.choice(member_ids), rng.choice(contact_ids)))
        reveals = sorted(
            ((m, c, rng.randrange(joined[m], now_ts)) for m, c in pairs),
            key=lambda r: r[2],
        )
        insert(
            "unlocks",
            ("member_id", "contact_id", "cost", "created_at"),
            ((m, c, 10, ts(w)) for m, c, w in reveals),
        )
        print(f"  {len(reveals):,} reveals", flush=True)

        insert(
            "ledger_entries",
            ("member_id", "delta", "kind", "state", "idempotency_key")
            + ("created_at", "vested_at"),
            ledger_rows_for(
                rng,
                ledger_rows,
                joined,
                revisions,
                reveals,
                member_and_time,
                now_ts,
                ts,
            ),
        )
        print(f"  {ledger_rows:,} ledger entries", flush=True)

        kinds = ("wrong_info", "left_company", "duplicate", "domain_mismatch")
        flags = []
        for n in range(FLAGS):
            waiting = n < WAITING_FLAGS
            created = now_ts - rng.randrange(30 * DAY if waiting else SPAN_DAYS * DAY)
            state = rng.choice(("open", "claimed")) if waiting else "dismissed"
            flags.append(
                (rng.choice(kinds), "challenge", state, rng.choice(contact_ids), "")
                + (10, ts(created + 7 * DAY), ts(created))
            )
        insert(
            "flags",
            ("kind", "source", "state", "contact_id", "details", "priority")
            + ("due_at", "created_at"),
            iter(flags),
        )
        jobs = []
        for n in range(JOB_RUNS):
            created = now_ts - rng.randrange(SPAN_DAYS * DAY)
            state = "queued" if n < 5 else ("failed" if n % 100 == 0 else "succeeded")
            finished = None if state == "queued" else ts(created + 60)
            jobs.append(("vest_points", "{}", state, 0, "", 0, ts(created), finished))
        insert(
            "job_runs",
            ("kind", "params", "state", "progress", "message", "attempts")
            + ("created_at", "finished_at"),
            iter(jobs),
        )
        print(f"  {FLAGS:,} flags, {JOB_RUNS:,} job runs", flush=True)
    autocommit = db.engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE" if _is_postgres() else "ANALYZE"))


def ledger_rows_for(
    rng: random.Random,
    total: int,
    joined: dict[int, int],
    revisions: list[tuple[int, int, int]],
    reveals: list[tuple[int, int, int]],
    member_and_time: Callable[[], tuple[int, int]],
    now_ts: int,
    ts: Callable[[int], str],
) -> Iterator[tuple]:
    """``total`` ledger rows in time order, shaped like the economy's."""
    wait = VESTING_DAYS * DAY
    events: list[tuple[int, int, int, str]] = [
        (created, member, 20, "signup_grant") for member, created in joined.items()
    ]
    events += [(w, m, 5, "contribution") for _c, m, w in revisions]
    owners = list(joined)
    for member, _contact, when in reveals:
        events.append((when, member, -10, "unlock"))
        events.append((when, rng.choice(owners), 1, "royalty"))
    while len(events) < total:
        member, when = member_and_time()
        events.append((when, member, 5, "update"))
    del events[total:]
    events.sort()
    for n, (created, member, delta, kind) in enumerate(events):
        if kind in ("contribution", "update"):
            if rng.random() < 0.02:
                state, vested = "void", None
            elif created > now_ts - wait:
                state, vested = "pending", None
            else:
                state, vested = "vested", ts(created + wait)
        else:
            state, vested = "vested", ts(created)
        yield (member, delta, kind, state, f"bench:{n}", ts(created), vested)


def _is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def ensure_admin() -> None:
    if db.session.scalar(sa.select(Member.id).where(Member.email == ADMIN_EMAIL)):
        return
    db.session.add(
        Member(
            email=ADMIN_EMAIL,
            display_name="Dashboard bench",
            password_hash=hash_password(ADMIN_PASSWORD),
            role=Role.ADMIN,
        )
    )
    db.session.commit()


def time_roll_up() -> float:
    started = time.perf_counter()
    metrics.roll_up_daily_metrics(db.session, utcnow(), refresh_days=30)
    db.session.commit()
    return time.perf_counter() - started


def time_live_count() -> float:
    today = utcnow().date()
    started = time.perf_counter()
    metrics.count_flows_live(
        db.session, metrics.day_start(today - timedelta(days=29)), utcnow()
    )
    seconds = time.perf_counter() - started
    db.session.rollback()
    return seconds


def time_pages(app, backend: str, requests: int) -> list[tuple[str, ...]]:
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    response = client.post(
        "/auth/login",
        data={
            "email": ADMIN_EMAIL,
            "password": ADMIN_PASSWORD,
            "csrf_token": CSRF.search(page).group(1),
        },
    )
    if response.status_code != 302:
        raise SystemExit(f"could not log the bench admin in ({response.status_code})")
    today = utcnow().date()
    year = f"/admin?start={today - timedelta(days=364)}&end={today}"
    pages = (
        ("30 days (default)", "/admin", {}),
        ("365 days", year, {}),
        ("30 days, htmx fragment", "/admin", {"HX-Request": "true"}),
    )
    rows = []
    for label, path, headers in pages:
        for _ in range(5):
            client.get(path, headers=headers)
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or b"chart-points" not in response.data:
                raise SystemExit(f"{path} answered {response.status_code}")
        cuts = statistics.quantiles(times, n=100)
        rows.append(
            (
                backend,
                label,
                f"{statistics.median(times):.1f}",
                f"{cuts[94]:.1f}",
                f"{max(times):.1f}",
            )
        )
        print(f"{backend}: {label} p95 {cuts[94]:.1f} ms", flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
