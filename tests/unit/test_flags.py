"""Flags have one owner: priorities and due days per source from
configuration, opened and closed only through portal.moderation.flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.config import load_settings
from portal.contacts import services
from portal.models import FlagKind, FlagSource, FlagState
from portal.moderation import flags
from portal.points import services as points
from portal.points.services import Rules

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_due_days_and_priority_per_source_by_default():
    """People's disputes are due in 3 days and come first, members' flags in 7,
    entry checks, customers and the sweep in 14."""
    rules = flags.FlagRules()
    due = {source: rules.due_at(source, NOW) - NOW for source in FlagSource}
    assert due == {
        FlagSource.SUBJECT: timedelta(days=3),
        FlagSource.MEMBER: timedelta(days=7),
        FlagSource.CUSTOMER: timedelta(days=14),
        FlagSource.ENTRY: timedelta(days=14),
        FlagSource.SWEEP: timedelta(days=14),
    }
    order = sorted(FlagSource, key=rules.priority_of)
    assert order[:2] == [FlagSource.SUBJECT, FlagSource.MEMBER]


def test_environment_overrides_one_source(monkeypatch, tmp_path):
    """FLAG_DUE_DAYS=member=2 changes members' flags and keeps the others."""
    monkeypatch.setenv("FLAG_DUE_DAYS", "member=2")
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)})
    rules = flags.FlagRules.from_config(settings)
    assert rules.due_days[FlagSource.MEMBER] == 2
    assert rules.due_days[FlagSource.SUBJECT] == 3


def test_unknown_source_in_environment_is_refused(monkeypatch, tmp_path):
    """A misspelt source in FLAG_PRIORITY stops start-up with a clear message."""
    monkeypatch.setenv("FLAG_PRIORITY", "members=1")
    with pytest.raises(ValueError, match="FLAG_PRIORITY must be key=number"):
        load_settings({"INSTANCE_PATH": str(tmp_path)})


def test_challenge_opens_a_member_flag_with_configured_due(
    db, make_member, make_contact
):
    """A challenge is a flag of source member, due by the rules it was given."""
    contact = make_contact()
    rules = flags.FlagRules(
        due_days={**flags.DEFAULT_DUE_DAYS, FlagSource.MEMBER: 5},
        priority={**flags.DEFAULT_PRIORITY, FlagSource.MEMBER: 7},
    )
    flag = services.challenge_contact(
        db.session,
        contact,
        make_member().id,
        FlagKind.LEFT_COMPANY,
        "Moved to Globex.",
        NOW,
        flag_rules=rules,
    )
    assert flag.source == FlagSource.MEMBER
    assert (flag.priority, flag.due_at) == (7, NOW + timedelta(days=5))


def test_a_flag_closes_once(db, make_member, make_contact):
    """Dismissing a flag already dismissed raises and changes nothing."""
    flag = flags.open_flag(
        db.session,
        FlagKind.WRONG_INFO,
        FlagSource.MEMBER,
        NOW,
        flags.FlagRules(),
        contact_id=make_contact().id,
        reporter_id=make_member().id,
    )
    points.settle_dismissed_challenge(
        db.session, flag, NOW, moderator_id=None, resolution="Fine as it is."
    )
    with pytest.raises(flags.FlagAlreadyResolved):
        points.settle_upheld_challenge(
            db.session, flag, Rules(), NOW, moderator_id=None, resolution="Again"
        )
    assert (flag.state, flag.resolution) == (FlagState.DISMISSED, "Fine as it is.")


def test_close_needs_a_resolving_state(db, make_contact):
    """Closing a flag to "claimed" is a programming error, not a resolution."""
    flag = flags.open_flag(
        db.session,
        FlagKind.DOMAIN_MISMATCH,
        FlagSource.ENTRY,
        NOW,
        flags.FlagRules(),
        contact_id=make_contact().id,
    )
    with pytest.raises(ValueError, match="does not resolve"):
        flags.close_flag(flag, FlagState.CLAIMED, NOW, moderator_id=None, resolution="")


def test_one_kind_can_have_its_own_due_days(monkeypatch, tmp_path):
    """FLAG_KIND_DUE_DAYS=proposed_change=14 makes proposals due in 14 days
    while challenges from the same source stay at 7."""
    monkeypatch.setenv("FLAG_KIND_DUE_DAYS", "proposed_change=14")
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)})
    rules = flags.FlagRules.from_config(settings)
    proposal = rules.due_at(FlagSource.MEMBER, NOW, FlagKind.PROPOSED_CHANGE)
    challenge = rules.due_at(FlagSource.MEMBER, NOW, FlagKind.LEFT_COMPANY)
    assert (proposal - NOW, challenge - NOW) == (timedelta(days=14), timedelta(days=7))


def test_unknown_kind_stops_the_app_at_start(monkeypatch, tmp_path):
    """A misspelt kind in FLAG_KIND_DUE_DAYS fails create_app, not a request."""
    from portal import create_app

    monkeypatch.setenv("FLAG_KIND_DUE_DAYS", "left_the_company=3")
    with pytest.raises(ValueError, match="left_the_company"):
        create_app(
            {
                "INSTANCE_PATH": str(tmp_path),
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "REDIS_URL": "redis://127.0.0.1:1/0",
            }
        )
