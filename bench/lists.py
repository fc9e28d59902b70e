"""A list from upload to finished report, with real workers.

    python bench/lists.py [--contacts 100000] [--rows 100000] [--workers 2]
        [--chunk-rows 5000] [--seed 1] [--reload]

The pool is ``bench/pool.py``'s (SQLite under ``$TMPDIR/tessera-bench-lists/``);
the list is ``bench/match.py``'s labelled HubSpot-style export. An org admin
POSTs it to ``/lists`` and confirms the proposed mapping (the Flask test
client, so the web server's own speed is not in the figure), while
``--workers`` ``portal worker`` processes (the embedded Redis of the pool's
instance folder) take the parent run and its chunk jobs. The clock runs from
the upload POST to the list being quoted. Prints the time of each phase, the
rows per second, the chunks each worker matched, and precision and recall of
``matched`` as stored in the list's rows.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import flask_migrate
from match import build_list, evaluate, load_people, write_list
from pool import BenchPool
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import (
    JobRun,
    ListState,
    MatchList,
    MatchListChunk,
    MatchListRow,
    Organisation,
    Role,
)

POOL = BenchPool("lists")
# The bench's own throwaway account in its own throwaway database.
PASSWORD = "bench password 1"  # noqa: S105


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args(argv)

    url = POOL.database_url("sqlite", args.contacts, args.seed, "")
    instance = POOL.sqlite_folder / "instance"
    settings = {
        "SQLALCHEMY_DATABASE_URI": url,
        "INSTANCE_PATH": str(instance),
        "LIST_CHUNK_ROWS": args.chunk_rows,
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_ENABLED": False,
    }
    app = create_app(settings)
    with app.app_context():
        if not args.reload and POOL.is_loaded(args.contacts, args.seed):
            db.session.rollback()
            flask_migrate.upgrade()
            print(f"reusing the pool at {url}", flush=True)
        else:
            db.session.rollback()
            print(f"loading {args.contacts:,} contacts ...", flush=True)
            print(f"loaded in {POOL.load(args.contacts, args.seed):.0f} s", flush=True)
        people = load_people()
        from portal.auth.services import find_member, register_member
        from portal.models.base import utcnow

        member = find_member("bench-lists@northwind.example")
        if member is None:
            organisation = Organisation(name="Bench Lists Org")
            db.session.add(organisation)
            member = register_member(
                "bench-lists@northwind.example",
                PASSWORD,
                "Bench",
                role=Role.ORG_ADMIN,
                verified_at=utcnow(),
            )
            member.organisation = organisation
            db.session.commit()
        email = member.email
        app.extensions["redis"].ping()  # the embedded server the workers join
    rows = build_list(args.seed, args.rows, people)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TESSERA_INSTANCE_PATH": str(instance),
        "LIST_CHUNK_ROWS": str(args.chunk_rows),
    }
    portal = Path(sys.executable).with_name("portal")
    workers = [
        subprocess.Popen(
            [str(portal), "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(args.workers)
    ]
    try:
        time.sleep(3)  # the workers are listening
        with tempfile.TemporaryDirectory(prefix="tessera-lists-bench-") as tmp:
            source = Path(tmp) / "list.csv"
            write_list(rows, source)
            size = source.stat().st_size
            client = app.test_client()
            page = client.get("/auth/login").get_data(as_text=True)
            client.post(
                "/auth/login",
                data={"email": email, "password": PASSWORD, "csrf_token": _token(page)},
            )
            token = _token(client.get("/lists").get_data(as_text=True))
            started = time.perf_counter()
            with source.open("rb") as handle:
                uploaded = client.post(
                    "/lists",
                    data={"csrf_token": token, "file": (handle, "bench-list.csv")},
                    content_type="multipart/form-data",
                )
            upload_seconds = time.perf_counter() - started
            if uploaded.status_code != 302:
                sys.exit(f"upload refused: {uploaded.status_code}")
            mapping_url = uploaded.headers["Location"]
            page = client.get(mapping_url).get_data(as_text=True)
            choices = dict(
                re.findall(
                    r'name="(column-\d+)">.*?<option value="([^"]*)" selected',
                    page,
                    re.S,
                )
            )
            confirmed = client.post(
                mapping_url, data={"csrf_token": _token(page), **choices}
            )
            mapped_seconds = time.perf_counter() - started
            list_id = int(confirmed.headers["Location"].rsplit("/", 1)[1])
            with app.app_context():
                while True:
                    db.session.rollback()
                    match_list = db.session.get(MatchList, list_id)
                    if match_list.state not in (ListState.MATCHING,):
                        break
                    time.sleep(0.5)
                total_seconds = time.perf_counter() - started
                assert match_list.state == ListState.QUOTED, match_list.message
                report = client.get(f"/lists/{list_id}")
                report_seconds = time.perf_counter() - started
                holders = Counter(
                    db.session.scalars(
                        select(JobRun.kind)
                        .join(
                            MatchListChunk,
                            MatchListChunk.claimed_by_run_id == JobRun.id,
                        )
                        .where(MatchListChunk.list_id == list_id)
                    )
                )
                outcomes = {
                    record: (status, contact)
                    for record, status, contact in db.session.execute(
                        select(
                            MatchListRow.record_id,
                            MatchListRow.status,
                            MatchListRow.contact_id,
                        ).where(MatchListRow.list_id == list_id)
                    )
                }
                summary = match_list.summary
                quote = (match_list.quote_total, match_list.quote_currency)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
    precision, recall, moved, _ = evaluate(rows, outcomes)
    print()
    print("$ " + " ".join(["python", *sys.argv]))
    print(
        f"SQLite, {args.contacts:,} contacts; a {args.rows:,}-row list "
        f"({size / 1e6:.1f} MB), {args.workers} workers, chunks of {args.chunk_rows:,}"
    )
    print(f"upload POST answered        {upload_seconds:7.1f} s")
    print(f"mapping confirmed           {mapped_seconds:7.1f} s")
    print(f"list quoted                 {total_seconds:7.1f} s")
    print(f"report page served          {report_seconds:7.1f} s ({report.status_code})")
    print(f"rows/s, upload to quote     {args.rows / total_seconds:7.0f}")
    print(f"chunks matched by parent / chunk jobs: {dict(holders)}")
    print(f"statuses: {summary['statuses']}; quote {quote[0]} {quote[1]}")
    print(f"precision {precision:.4f}, recall {recall:.4f}, moved right {moved:.3f}")
    print(f"load average: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
