"""Accepting one list's quote from many processes at once starts one merge
and bills once."""

from __future__ import annotations

import multiprocessing
import time

from sqlalchemy import func, select

from portal.models import Invoice, JobRun, ListState, MatchList
from tests.lists_helpers import make_org_member, make_pool, upload_list

_app = None
PROCESSES = 4


def _start_process(config: dict) -> None:
    global _app
    from portal import create_app
    from tests.clock import start_shifted_clock

    start_shifted_clock()  # the same date as the test that spawned it
    _app = create_app(config)


def _accept(args: tuple[int, int, float]) -> str:
    from portal.extensions import db
    from portal.lists.delivery import QuoteNotAcceptable, accept_quote
    from portal.models import Member
    from portal.models.base import utcnow

    list_id, member_id, start_at = args
    time.sleep(max(0.0, start_at - time.monotonic()))  # everyone starts together
    with _app.app_context():
        match_list = db.session.get(MatchList, list_id)
        member = db.session.get(Member, member_id)
        try:
            accept_quote(db.session, match_list, member=member, now=utcnow())
            db.session.commit()
        except QuoteNotAcceptable:
            db.session.rollback()
            return "refused"
        return "accepted"


def test_a_quote_accepted_concurrently_bills_once(
    app, app_config, db, factories, run_jobs
):
    """Four admins accept at the same moment: one wins, three are told the
    list is merging; one merge runs and one invoice is issued."""
    make_pool(factories)
    admin = make_org_member(factories)
    match_list = upload_list(app, admin)
    run_jobs()
    db.session.refresh(match_list)
    assert match_list.state == ListState.QUOTED
    context = multiprocessing.get_context("spawn")
    with context.Pool(
        PROCESSES, initializer=_start_process, initargs=(app_config,)
    ) as pool:
        pool.map(time.sleep, [0.1] * PROCESSES)  # every process has started
        start_at = time.monotonic() + 1.0
        results = pool.map(_accept, [(match_list.id, admin.id, start_at)] * PROCESSES)
    assert sorted(results) == ["accepted"] + ["refused"] * (PROCESSES - 1)
    merges = select(func.count(JobRun.id)).where(JobRun.kind == "merge_list")
    assert db.session.scalar(merges) == 1
    run_jobs()
    db.session.expire_all()
    assert db.session.get(MatchList, match_list.id).state == ListState.DELIVERED
    assert db.session.scalar(select(func.count(Invoice.id))) == 1
