"""How long the nightly quality sweep takes over a large pool.

    python bench/sweep.py --contacts 1000000 [--backend sqlite|postgresql]
        [--members 200] [--seed 1] [--reload]

The pool comes from ``generate_demo_data`` (``bench/pool.py``: loaded once,
then reused; SQLite under ``$TMPDIR/tessera-bench-sweep/``, PostgreSQL in
``--postgres-url``). On top of it, ``--members`` members each contributed
100 of the pool's contacts in the last day (contribution revisions), a tenth
of them in a burst, a tenth in alphabetical order, so that the contributor
checks read real volumes. Then ``run_sweep`` runs twice, in this process as
the worker would: the first run opens the findings, the second (the next
night, with nothing new) must open none. Printed: seconds per run, findings
by kind, companies compared, peak memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from datetime import timedelta

import sqlalchemy as sa
from pool import BenchPool
from report import print_columns

from portal import create_app
from portal.auth.services import hash_password
from portal.extensions import db
from portal.models import Flag, Member, Revision
from portal.models.base import utcnow
from portal.moderation.flags import FlagRules
from portal.moderation.sweep import SweepRules, run_sweep

POOL = BenchPool("sweep")
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_moderation_bench"
REDIS_URL = "redis://127.0.0.1:6379/8"
PER_MEMBER = 100


def plant_contributors(members: int, seed: int) -> int:
    """Members and their contribution revisions in the last day; returns how
    many revisions. Idempotent: a second call finds them and adds none."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Member)):
        return db.session.scalar(sa.select(sa.func.count()).select_from(Revision))
    rng = random.Random(seed)
    password = hash_password("bench password")
    now = utcnow()
    db.session.execute(
        sa.insert(Member),
        [
            {
                "email": f"contributor{n}@bench.example",
                "password_hash": password,
                "display_name": f"Contributor {n}",
                "pseudonym": f"{n:04X}",
            }
            for n in range(members)
        ],
    )
    member_ids = list(db.session.scalars(sa.select(Member.id).order_by(Member.id)))
    top = db.session.scalar(
        sa.select(sa.func.max(sa.text("id"))).select_from(sa.table("contacts"))
    )
    rows = []
    for index, member_id in enumerate(member_ids):
        picked = sorted(rng.sample(range(1, top + 1), PER_MEMBER))
        names = dict(
            db.session.execute(
                sa.text(
                    "SELECT id, last_name FROM contacts WHERE id IN "
                    f"({','.join(map(str, picked))})"
                )
            ).all()
        )
        picked = [contact for contact in picked if contact in names]
        if index % 10 == 1:
            picked.sort(key=lambda contact: names[contact])
        else:
            rng.shuffle(picked)
        start = now - timedelta(hours=20)
        step = timedelta(seconds=10) if index % 10 == 0 else timedelta(minutes=7)
        for n, contact_id in enumerate(picked):
            rows.append(
                {
                    "contact_id": contact_id,
                    "member_id": member_id,
                    "kind": "contribution",
                    "source": "form",
                    "fields": {"last_name": names[contact_id]},
                    "created_at": start + step * n,
                }
            )
    db.session.execute(sa.insert(Revision), rows)
    db.session.commit()
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)

    url = POOL.database_url(args.backend, args.contacts, args.seed, args.postgres_url)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": REDIS_URL,
            "INSTANCE_PATH": str(POOL.sqlite_folder / "instance"),
        }
    )
    with app.app_context():
        if args.reload or not POOL.is_loaded(args.contacts, args.seed):
            db.session.rollback()
            print(f"{args.backend}: loading {args.contacts:,} contacts ...", flush=True)
            print(f"loaded in {POOL.load(args.contacts, args.seed):.0f} s", flush=True)
        db.session.rollback()
        db.session.execute(sa.delete(Flag).where(Flag.finding_key.is_not(None)))
        db.session.commit()
        revisions = plant_contributors(args.members, args.seed)
        rules, flag_rules = SweepRules.from_config(app.config), FlagRules()
        runs = []
        for night in ("first", "rerun"):
            started, cpu = time.perf_counter(), time.process_time()
            result = run_sweep(db.session, rules, flag_rules, utcnow())
            runs.append(
                (
                    night,
                    f"{time.perf_counter() - started:.1f}",
                    f"{time.process_time() - cpu:.1f}",
                    f"{result.companies:,}",
                    ", ".join(f"{k} {v:,}" for k, v in sorted(result.found.items())),
                    f"{sum(result.opened.values()):,}",
                )
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print()
    print("$ " + " ".join(["python", *sys.argv]))
    print(
        f"{args.backend}, {args.contacts:,} contacts, {revisions:,} recent "
        f"contributions by {args.members} members; peak memory {peak:,} MB"
    )
    print_columns(("run", "seconds", "CPU s", "companies", "found", "opened"), runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
