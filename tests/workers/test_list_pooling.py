"""Pooling is opt-in: nothing from a list is proposed unless the organisation
opted in, and suppressed people never are."""

from __future__ import annotations

from sqlalchemy import select

from portal import suppression
from portal.lists import pooling
from portal.models import Flag, FlagKind, FlagSource, PoolingConsent
from portal.models.base import utcnow
from tests.lists_helpers import make_org_member, make_pool, upload_list

# Carla's title differs from ours (CFO): a value we could learn.
LIST = (
    "First Name,Last Name,Company,Email,Job Title\n"
    "Carla,Mendes,Acme Robotics,carla.mendes@acme.com,Chief Financial Officer\n"
    "Robert,Whitfield,Acme Robotics,robert.whitfield@acme.com,VP Sales\n"
)


def _proposals(db):
    return db.session.scalars(
        select(Flag).where(Flag.kind == FlagKind.PROPOSED_CHANGE)
    ).all()


def test_nothing_is_proposed_by_default(app, db, factories, run_jobs):
    """An organisation that never opted in proposes nothing."""
    make_pool(factories)
    member = make_org_member(factories)
    assert member.organisation.pooling_opt_in is False
    upload_list(app, member, LIST)
    run_jobs()
    assert _proposals(db) == []


def test_opted_in_rows_that_differ_are_proposed_once(app, db, factories, run_jobs):
    """Opted in: each differing matched row is a customer proposal with the
    consent recorded; a re-quote does not propose the same values again;
    opting out stops it."""
    robert, carla = make_pool(factories)
    admin = make_org_member(factories)
    consent = pooling.set_pooling(
        db.session, admin.organisation, opted_in=True, member=admin, now=utcnow()
    )
    db.session.commit()
    assert consent.wording == pooling.POOLING_WORDING
    upload_list(app, admin, LIST)
    run_jobs()
    flags = _proposals(db)
    assert sorted((f.contact_id, f.source, f.proposal["title"]) for f in flags) == [
        (robert.id, FlagSource.CUSTOMER, "VP Sales"),
        (carla.id, FlagSource.CUSTOMER, "Chief Financial Officer"),
    ]
    upload_list(app, admin, LIST)
    run_jobs()
    assert len(_proposals(db)) == 2
    pooling.set_pooling(
        db.session, admin.organisation, opted_in=False, member=admin, now=utcnow()
    )
    db.session.commit()
    upload_list(app, admin, LIST.replace("VP Sales", "CRO"))
    run_jobs()
    assert len(_proposals(db)) == 2
    choices = db.session.scalars(
        select(PoolingConsent.opted_in).order_by(PoolingConsent.id)
    ).all()
    assert choices == [True, False]


def test_suppressed_people_are_never_proposed(app, db, factories, run_jobs):
    """A person on the suppression list is left out even when opted in."""
    _, carla = make_pool(factories)
    admin = make_org_member(factories)
    pooling.set_pooling(
        db.session, admin.organisation, opted_in=True, member=admin, now=utcnow()
    )
    suppression.suppress(
        db.session,
        app.config["SUPPRESSION_KEY"],
        reason="erasure",
        email="robert.whitfield@acme.com",
    )
    db.session.commit()
    upload_list(app, admin, LIST)
    run_jobs()
    assert [f.contact_id for f in _proposals(db)] == [carla.id]
