"""The quality sweep on planted data: each kind of finding opens one sweep
flag with its evidence, and running it again opens none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal import queue
from portal.models import (
    Flag,
    FlagKind,
    FlagSource,
    FlagState,
    JobRun,
    JobState,
    Revision,
    RevisionKind,
    RevisionSource,
)
from portal.moderation import sweep
from portal.moderation.flags import FlagRules, open_flag

NOW = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)
RULES = sweep.SweepRules()
SURNAMES = ["Adams", "Baker", "Clarke", "Davies", "Evans", "Fischer", "Garcia",
            "Hughes", "Ibrahim", "Jones", "Khan", "Lopez", "Morgan", "Nolan",
            "Owens", "Patel", "Quinn", "Reid", "Singh", "Turner", "Usman"]  # fmt: skip


def _run(db):
    return sweep.run_sweep(db.session, RULES, FlagRules(), NOW)


def _flags(db, kind):
    return db.session.scalars(select(Flag).where(Flag.kind == kind)).all()


@pytest.fixture
def contribute(db, make_contact, make_company):
    """A contact and its contribution revision by ``member`` at ``at``."""
    company = make_company(name="Globex", domain="globex.example")

    def add(member, at, first="Jane", last="Doe", **fields):
        contact = make_contact(
            company=company,
            first_name=first,
            last_name=last,
            owner_id=member.id if member else None,
            email=f"{first}.{last}.{at.timestamp():.0f}@globex.example".lower(),
        )
        revision = Revision(
            contact_id=contact.id,
            member_id=member.id if member else None,
            kind=RevisionKind.CONTRIBUTION,
            source=RevisionSource.FORM,
            fields={"first_name": first, "last_name": last, **fields},
            created_at=at,
        )
        db.session.add(revision)
        db.session.commit()
        return contact, revision

    return add


def test_near_duplicates_are_flagged_once_with_scores(db, make_company, make_contact):
    """Amara Okafor and Amara Okafer at one company (two emails) make one
    cluster with the matcher's score; a colleague with another name does
    not; a rerun opens nothing."""
    company = make_company(name="Initech", domain="initech.example")
    first = make_contact(company=company, first_name="Amara", last_name="Okafor")
    second = make_contact(company=company, first_name="Amara", last_name="Okafer")
    make_contact(company=company, first_name="Bruno", last_name="Diaz")
    result = _run(db)
    assert result.opened == {"near_duplicate": 1}
    (flag,) = _flags(db, FlagKind.NEAR_DUPLICATE)
    assert flag.source == FlagSource.SWEEP
    assert (flag.contact_id, flag.related_contact_id) == (first.id, second.id)
    assert flag.evidence["contacts"] == [first.id, second.id]
    (score,) = flag.evidence["scores"].values()
    assert 75 <= score < 100
    again = _run(db)
    assert again.found == {"near_duplicate": 1} and again.opened == {}
    assert len(_flags(db, FlagKind.NEAR_DUPLICATE)) == 1


def test_a_pair_a_moderator_already_decided_is_not_flagged(
    db, make_company, make_contact
):
    """A pair already sent as "a different person" is left alone."""
    company = make_company(name="Initech", domain="initech.example")
    first = make_contact(company=company, first_name="Amara", last_name="Okafor")
    second = make_contact(company=company, first_name="Amara", last_name="Okafer")
    flag = open_flag(
        db.session,
        FlagKind.POSSIBLE_DUPLICATE,
        FlagSource.ENTRY,
        NOW,
        FlagRules(),
        contact_id=second.id,
        related_contact_id=first.id,
    )
    flag.state = FlagState.DISMISSED
    db.session.commit()
    assert _run(db).opened == {}


def test_a_burst_is_one_finding(db, make_member, contribute):
    """Twenty-five contributions in five minutes: one burst, with its count."""
    member = make_member()
    start = NOW - timedelta(hours=3)
    for n in range(25):
        contribute(member, start + timedelta(seconds=12 * n), last=f"Burst{n:02d}x")
    result = _run(db)
    assert result.opened.get("contribution_burst") == 1
    (flag,) = _flags(db, FlagKind.CONTRIBUTION_BURST)
    assert (flag.member_id, flag.evidence["contributions"]) == (member.id, 25)
    assert _run(db).opened.get("contribution_burst") is None


def test_slow_contributions_are_no_burst(db, make_member, contribute):
    """Twenty-five contributions an hour apart are no burst."""
    member = make_member()
    for n in range(25):
        contribute(member, NOW - timedelta(hours=n + 1), last=SURNAMES[n % 21] + "x")
    _run(db)
    assert _flags(db, FlagKind.CONTRIBUTION_BURST) == []


def test_alphabetical_and_sequential_runs_look_like_a_roster(
    db, make_member, contribute
):
    """Fourteen contributions in name order (half an hour apart), and five
    with phone numbers counting up, are each a roster run."""
    alphabetical, sequential = make_member(), make_member()
    for n in range(14):
        contribute(
            alphabetical, NOW - timedelta(minutes=30 * (14 - n)), last=SURNAMES[n]
        )
    for n in range(5):
        contribute(
            sequential,
            NOW - timedelta(minutes=40 * (5 - n)),
            last=SURNAMES[(n * 7) % 21],
            phone=f"+44207946{n + 100:04d}",
        )
    result = _run(db)
    assert result.opened.get("roster_run") == 2
    flags = {f.member_id: f for f in _flags(db, FlagKind.ROSTER_RUN)}
    assert flags[alphabetical.id].evidence["contributions"] == 14
    assert "phone" in flags[sequential.id].evidence["order"]
    assert _run(db).opened.get("roster_run") is None


def test_shuffled_contributions_are_no_roster_run(db, make_member, contribute):
    """The same fourteen names out of order are no run."""
    member = make_member()
    order = [5, 2, 9, 0, 13, 7, 1, 11, 4, 12, 3, 8, 10, 6]
    for step, n in enumerate(order):
        contribute(member, NOW - timedelta(minutes=30 * (14 - step)), last=SURNAMES[n])
    _run(db)
    assert _flags(db, FlagKind.ROSTER_RUN) == []


def _uphold(db, revision, kind=FlagKind.WRONG_INFO):
    flag = open_flag(
        db.session,
        kind,
        FlagSource.MEMBER if kind != FlagKind.DOMAIN_MISMATCH else FlagSource.ENTRY,
        NOW,
        FlagRules(),
        contact_id=revision.contact_id,
        revision_id=revision.id,
    )
    if kind != FlagKind.DOMAIN_MISMATCH:
        flag.state = FlagState.UPHELD
    db.session.commit()
    return flag


def test_a_high_upheld_rate_is_flagged_once_until_new_evidence(
    db, make_member, contribute
):
    """Four of ten contributions upheld as bad (40%) is a finding, one of ten
    (10%) is not; the same evidence finds nothing new."""
    member, fine = make_member(), make_member()
    revisions = [
        contribute(member, NOW - timedelta(days=5, hours=n), last=SURNAMES[n])[1]
        for n in range(10)
    ]
    for revision in revisions[:4]:
        _uphold(db, revision)
    decent = [
        contribute(fine, NOW - timedelta(days=6, hours=n), last=SURNAMES[n] + "y")[1]
        for n in range(10)
    ]
    _uphold(db, decent[0])
    result = _run(db)
    assert result.opened.get("high_upheld_rate") == 1
    (flag,) = _flags(db, FlagKind.HIGH_UPHELD_RATE)
    assert (flag.member_id, flag.evidence["percent"]) == (member.id, 40)
    assert _run(db).opened.get("high_upheld_rate") is None


def test_many_domain_mismatches_are_flagged(db, make_member, contribute):
    """Five contributions held for a domain mismatch make one finding."""
    member = make_member()
    for n in range(5):
        _, revision = contribute(
            member, NOW - timedelta(days=3, hours=n), last=SURNAMES[n]
        )
        _uphold(db, revision, FlagKind.DOMAIN_MISMATCH)
    result = _run(db)
    assert result.opened.get("domain_mismatches") == 1
    (flag,) = _flags(db, FlagKind.DOMAIN_MISMATCHES)
    assert flag.evidence["mismatches"] == 5


def test_the_sweep_runs_as_a_tracked_job(db, make_company, make_contact, run_jobs):
    """Started like the scheduler starts it, the job succeeds with a summary."""
    company = make_company(name="Initech", domain="initech.example")
    make_contact(company=company, first_name="Amara", last_name="Okafor")
    make_contact(company=company, first_name="Amara", last_name="Okafer")
    run = queue.start_job("quality_sweep")
    db.session.commit()
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.state == JobState.SUCCEEDED, run.error
    assert run.result["opened"] == {"near_duplicate": 1}
