"""Moderators racing: claims and decisions made from several processes at
the same moment. One wins; the others are told; points move once."""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from portal import ledger
from portal.models import (
    AuditEntry,
    EntryKind,
    Flag,
    FlagState,
    LedgerEntry,
    OutboxMessage,
)
from tests.moderation_helpers import entries, plant_scene

_app = None
PROCESSES = 4
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
# When the moderators act: fixed, like the scene, so the refund window holds on
# any date (the processes must not read the real clock).
ACTED_AT = NOW + timedelta(hours=1)


def _start_process(config: dict) -> None:
    global _app
    from portal import create_app
    from tests.clock import start_shifted_clock

    start_shifted_clock()  # the same date as the test that spawned it
    _app = create_app(config)


def _claim(args: tuple[int, int, float]) -> str:
    from portal.models import Member
    from portal.moderation import queue

    flag_id, moderator_id, start_at = args
    time.sleep(max(0.0, start_at - time.monotonic()))
    with _app.app_context():
        try:
            with ledger.write_transaction() as session:
                queue.claim(
                    session, flag_id, session.get(Member, moderator_id), ACTED_AT
                )
        except queue.ClaimRefused as refused:
            return refused.message
        return f"claimed by {moderator_id}"


def _graveyard(args: tuple[int, int, float]) -> str:
    from portal.models import Member
    from portal.moderation import actions
    from portal.points.services import Rules

    flag_id, moderator_id, start_at = args
    time.sleep(max(0.0, start_at - time.monotonic()))
    with _app.app_context():
        try:
            with ledger.write_transaction() as session:
                ctx = actions.Moderation(
                    session, session.get(Member, moderator_id), Rules(), ACTED_AT
                )
                actions.graveyard(ctx, flag_id, "She left")
        except actions.ActionRefused as refused:
            return refused.message
        return "graveyarded"


def _race(app_config, function, arguments) -> list[str]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(
        PROCESSES, initializer=_start_process, initargs=(app_config,)
    ) as pool:
        pool.map(time.sleep, [0.1] * PROCESSES)  # every process has started
        start_at = time.monotonic() + 1.0
        return pool.map(function, [(*args, start_at) for args in arguments])


def test_concurrent_claims_one_wins_the_others_are_told(app_config, db, make_member):
    """Four moderators claim one item at once: one holds it, three are told
    who claimed it first."""
    scene = plant_scene(db, make_member, NOW)
    moderators = [scene.moderator] + [
        make_member(role="moderator") for _ in range(PROCESSES - 1)
    ]
    results = _race(app_config, _claim, [(scene.flag.id, m.id) for m in moderators])
    winners = [r for r in results if r.startswith("claimed by")]
    assert len(winners) == 1
    assert all("claimed this item first" in r for r in results if r not in winners)
    db.session.expire_all()
    flag = db.session.get(Flag, scene.flag.id)
    assert flag.state == FlagState.CLAIMED
    assert winners == [f"claimed by {flag.moderator_id}"]


def test_concurrent_graveyarding_moves_points_once(app_config, db, make_member):
    """Four processes graveyard one item at once (one moderator in four tabs):
    one succeeds, three are told it was already upheld; the reward, the
    penalty, the refund, the audit entry and the email exist once."""
    scene = plant_scene(db, make_member, NOW)
    results = _race(
        app_config, _graveyard, [(scene.flag.id, scene.moderator.id)] * PROCESSES
    )
    assert results.count("graveyarded") == 1
    assert all("already upheld" in r for r in results if r != "graveyarded")
    db.session.expire_all()
    assert entries(db, scene.reporter, EntryKind.CHALLENGE_REWARD) == [2]
    assert entries(db, scene.revealer, EntryKind.REFUND) == [10]
    assert entries(db, scene.contributor, EntryKind.PENALTY) == [-1]
    assert (
        db.session.scalar(
            select(func.count()).where(LedgerEntry.kind == EntryKind.REFUND)
        )
        == 1
    )
    assert (
        db.session.scalar(
            select(func.count()).where(AuditEntry.action == "moderation.graveyarded")
        )
        == 1
    )
    assert (
        db.session.scalar(
            select(func.count()).where(OutboxMessage.kind == "moderation_decision")
        )
        == 1
    )
