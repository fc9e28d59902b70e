"""The ledger under real concurrency: separate processes, one database."""

from __future__ import annotations

import multiprocessing
import time

from sqlalchemy import func, select

from portal import ledger
from portal.models import EntryKind, LedgerEntry

_app = None
SPEND = 10


def _start_process(config: dict) -> None:
    global _app
    from portal import create_app
    from tests.clock import start_shifted_clock

    start_shifted_clock()  # the same date as the test that spawned it
    _app = create_app(config)


def _spend(args: tuple[int, str, float]) -> str:
    member_id, key, start_at = args
    time.sleep(max(0.0, start_at - time.monotonic()))  # everyone starts together
    with _app.app_context():
        try:
            with ledger.write_transaction() as session:
                ledger.record(session, member_id, -SPEND, EntryKind.UNLOCK, key)
        except ledger.InsufficientPoints:
            return "refused"
        return "spent"


def _run_in_parallel(app_config: dict, member_id: int, keys: list[str]) -> list[str]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(10, initializer=_start_process, initargs=(app_config,)) as pool:
        # Let every process finish starting before the common start time.
        pool.map(time.sleep, [0.1] * 10)
        # The monotonic clock is one for every process on the machine, and no
        # shift of the wall clock (tests/clock.py) moves it.
        start_at = time.monotonic() + 1.0
        return pool.map(_spend, [(member_id, key, start_at) for key in keys])


def test_fifty_parallel_spends_never_overdraw(app_config, db, make_member):
    """50 spends race for a balance covering 7: exactly 7 succeed, balance 0."""
    member = make_member()
    ledger.record(db.session, member.id, 7 * SPEND, EntryKind.PURCHASE, "fund")
    db.session.commit()
    results = _run_in_parallel(app_config, member.id, [f"spend-{n}" for n in range(50)])
    assert results.count("spent") == 7
    assert results.count("refused") == 43
    db.session.expire_all()
    assert ledger.vested_balance(db.session, member.id) == 0
    unlocks = db.session.scalar(
        select(func.count()).where(LedgerEntry.kind == EntryKind.UNLOCK)
    )
    assert unlocks == 7


def test_same_key_in_parallel_charges_once(app_config, db, make_member):
    """The same idempotency key sent by 20 processes at once gives one entry."""
    member = make_member()
    ledger.record(db.session, member.id, 100, EntryKind.PURCHASE, "fund")
    db.session.commit()
    results = _run_in_parallel(app_config, member.id, ["one-reveal"] * 20)
    assert results.count("spent") == 20  # each caller is told it is paid for
    db.session.expire_all()
    assert ledger.vested_balance(db.session, member.id) == 100 - SPEND
    entries = db.session.scalar(
        select(func.count()).where(LedgerEntry.idempotency_key == "one-reveal")
    )
    assert entries == 1
