"""How fast the company pages answer for the largest company in a directory.

    python bench/companies.py --database-url URL [--redis-url URL]
        [--company ID] [--requests 50]

Runs against a database that is already loaded (``bench/dedupe.py`` builds
one of 1,000,000 contacts; use a copy: this adds a member to log in as).
Requests go through the Flask test client in this process, so the figures
are server-side: routing, SQL, rendering; no network and no browser. Each
kind of request is made ``--requests`` times after one warm-up; the report
gives p50, p95 and the slowest in milliseconds, and the SQL each one ran.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time

import sqlalchemy as sa
from sqlalchemy import event, func, select

from portal import create_app
from portal.auth.services import hash_password
from portal.extensions import db
from portal.models import Company, Contact, Member

REDIS_URL = "redis://127.0.0.1:6379/10"
MEMBER_EMAIL = "bench-companies@tessera.example"


def largest_company() -> int:
    return db.session.execute(
        select(Contact.company_id)
        .group_by(Contact.company_id)
        .order_by(func.count().desc())
        .limit(1)
    ).scalar_one()


def bench_member_password() -> str:
    """The bench member's password, new each run (the member is made once)."""
    password = secrets.token_urlsafe()
    member = db.session.scalar(select(Member).where(Member.email == MEMBER_EMAIL))
    if member is None:
        member = Member(email=MEMBER_EMAIL, display_name="Company bench")
        db.session.add(member)
    member.password_hash = hash_password(password)
    db.session.commit()
    return password


class QueryCounter:
    def __init__(self, engine: sa.Engine):
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args) -> None:
        self.count += 1


def measure(client, path: str, headers: dict, requests: int, counter) -> tuple:
    response = client.get(path, headers=headers)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code}")
    timings = []
    before = counter.count
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    queries = (counter.count - before) / requests
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * len(timings)) - 1)]
    return statistics.median(timings), p95, timings[-1], queries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--company", type=int, help="default: the largest")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args(argv)

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": args.database_url,
            "REDIS_URL": args.redis_url,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        password = bench_member_password()
        company_id = args.company or largest_company()
        company = db.session.get(Company, company_id)
        contacts = db.session.scalar(
            select(func.count()).where(Contact.company_id == company_id)
        )
        total = db.session.scalar(select(func.count()).select_from(Contact))
        counter = QueryCounter(db.engine)
        backend = db.engine.dialect.name
        db.session.remove()
    client = app.test_client()
    response = client.post(
        "/auth/login", data={"email": MEMBER_EMAIL, "password": password}
    )
    if response.status_code != 302:
        raise SystemExit(f"login failed: {response.status_code}")

    htmx = {"HX-Request": "true"}
    page = f"/companies/{company_id}"
    cases = [
        ("company page, full", page, {}),
        ("company page, department filter (full)", f"{page}?department=sales", {}),
        ("contact list (htmx), page 2", f"{page}?page=2", htmx),
        (
            "contact list (htmx), sales + director",
            f"{page}?department=sales&seniority=director",
            htmx,
        ),
        ("contact list (htmx), page 1,000", f"{page}?page=1000", htmx),
        ("company list, page 1", "/companies", {}),
        ("company search (htmx), one typo", f"/companies?q={company.name[:-1]}", htmx),
    ]
    print(
        f"{backend}: {total:,} contacts; company {company_id} ({company.name}) holds "
        f"{contacts:,}; {args.requests} requests each\n"
    )
    print(f"{'request':<42} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'SQL':>5}")
    for label, path, headers in cases:
        p50, p95, slowest, queries = measure(
            client, path, headers, args.requests, counter
        )
        print(f"{label:<42} {p50:8.1f} {p95:8.1f} {slowest:8.1f} {queries:5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
