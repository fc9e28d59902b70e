"""How long a person takes, through the privacy center, from asking for
access to a completed erasure (the figure SPEC 7 asks to keep "in minutes").

    python bench/privacy.py [--contacts 5000] [--people 100]
        [--backends sqlite,postgresql]

Per backend: a fresh database (SQLite in a temporary folder; PostgreSQL in
``tessera_privacy``, Redis database 10), ``--contacts`` demo contacts, each
person revealed by one member first (so their erasure tells a recipient).
Then for ``--people`` of them, through the test client as their browser:
ask for a link (``POST /privacy/access``), read it from the outbox, open it
(``GET`` and ``POST /privacy/open/<token>``), and erase (``POST
/privacy/report/<id>/erase``). Prints the median and p95 of the server-side
time from the request to the completed erasure; the person's own reading
time (opening their mailbox) is not in it.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time

import flask_migrate
import sqlalchemy as sa
from report import print_columns

from portal import create_app
from portal.auth.services import hash_password
from portal.demo import generate_demo_data
from portal.disclosures import record_disclosures
from portal.extensions import db
from portal.models import Contact, DisclosureChannel, Member, OutboxMessage, Unlock
from portal.models.base import utcnow

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_privacy"
REDIS_URL = "redis://127.0.0.1:6379/10"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LINK = re.compile(r"/privacy/open/(\S+)")


def _csrf(response) -> str:
    return CSRF.search(response.get_data(as_text=True)).group(1)


def _app(backend: str, folder: str):
    config = {
        "INSTANCE_PATH": folder,
        "RATELIMIT_ENABLED": False,
        "MAIL_SERVER": None,
    }
    if backend == "postgresql":
        engine = sa.create_engine(POSTGRES_URL)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        config.update(SQLALCHEMY_DATABASE_URI=POSTGRES_URL, REDIS_URL=REDIS_URL)
    else:
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{folder}/bench.db"
    return create_app(config)


def run(backend: str, contacts: int, people: int) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        app = _app(backend, folder)
        with app.app_context():
            flask_migrate.upgrade()
            generate_demo_data(contacts=contacts, seed=7)
            reader = Member(
                email="reader@bench.example",
                display_name="Reader",
                password_hash=hash_password("bench reader password"),
            )
            db.session.add(reader)
            db.session.flush()
            chosen = db.session.scalars(
                sa.select(Contact).order_by(Contact.id).limit(people)
            ).all()
            db.session.add_all(
                Unlock(member_id=reader.id, contact_id=c.id, cost=10) for c in chosen
            )
            record_disclosures(
                db.session,
                [c.id for c in chosen],
                reader,
                DisclosureChannel.UNLOCK,
                utcnow(),
            )
            db.session.commit()
            targets = [(c.id, c.email) for c in chosen]
            db.session.remove()
        # Requests run outside any app context, as a real server's do (a
        # shared one would share Flask-WTF's CSRF token between browsers).
        seconds = []
        for contact_id, email in targets:
            browser = app.test_client()
            token = _csrf(browser.get("/privacy"))
            started = time.perf_counter()
            asked = browser.post(
                "/privacy/access", data={"email": email, "csrf_token": token}
            )
            assert asked.status_code == 200, asked.status_code
            with app.app_context():
                body = db.session.scalar(
                    sa.select(OutboxMessage.body_text)
                    .where(OutboxMessage.to_address == email)
                    .order_by(OutboxMessage.id.desc())
                )
            link = LINK.search(body).group(1)
            page = browser.get(f"/privacy/open/{link}")
            browser.post(f"/privacy/open/{link}", data={"csrf_token": _csrf(page)})
            report = browser.get("/privacy/report")
            done = browser.post(
                f"/privacy/report/{contact_id}/erase",
                data={"csrf_token": _csrf(report), "kind": "erase"},
            )
            seconds.append(time.perf_counter() - started)
            assert done.status_code == 303, done.status_code
            with app.app_context():
                assert db.session.get(Contact, contact_id) is None
                db.session.remove()
        with app.app_context():
            db.engine.dispose()
        return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    rows = []
    for backend in args.backends.split(","):
        seconds = sorted(run(backend, args.contacts, args.people))
        p95 = seconds[int(0.95 * (len(seconds) - 1))]
        rows.append(
            (
                backend,
                f"{args.contacts:,}",
                str(len(seconds)),
                f"{statistics.median(seconds) * 1000:.1f}",
                f"{p95 * 1000:.1f}",
            )
        )
    print_columns(("backend", "contacts", "erasures", "median ms", "p95 ms"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
