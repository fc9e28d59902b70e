"""A planted moderation scene: a contributor's contact, a member who revealed
it, and a reporter's challenge, all through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal import ledger
from portal.contacts import services
from portal.contacts.reveal import RevealRules, reveal_contact
from portal.models import Contact, EntryKind, Flag, FlagKind, Member, RevisionSource
from portal.points.services import Rules

RULES = Rules()


def grant(db, member: Member, points: int, key: str) -> None:
    ledger.record(db.session, member.id, points, EntryKind.SIGNUP_GRANT, key)
    db.session.commit()


def contribute(db, member: Member, now: datetime, **overrides) -> Contact:
    values = {
        "first_name": "Amara",
        "last_name": "Okafor",
        "title": "Head of Procurement",
        "company": "Brightwater Analytics",
        "company_domain": "brightwater-analytics.com",
        "email": "amara.okafor@brightwater-analytics.com",
    }
    values.update(overrides)
    outcome = services.contribute(
        db.session,
        member.id,
        values,
        source=RevisionSource.FORM,
        attestation=services.ATTESTATION_TEXT,
        rules=RULES,
        suppression_key="test-suppression-key",
        now=now,
        decision=("different", None),
    )
    db.session.commit()
    return outcome.contact


def reveal(db, member: Member, contact: Contact, now: datetime) -> None:
    reveal_contact(db.session, member, contact, RevealRules(), now)
    db.session.commit()


def challenge(db, reporter: Member, contact: Contact, kind: FlagKind, now) -> Flag:
    flag = services.challenge_contact(
        db.session, contact, reporter.id, kind, "She moved to Globex.", now
    )
    db.session.commit()
    return flag


@dataclass
class Scene:
    contributor: Member
    revealer: Member
    reporter: Member
    moderator: Member
    contact: Contact
    flag: Flag


def plant_scene(db, make_member, now: datetime, kind=FlagKind.LEFT_COMPANY) -> Scene:
    """Contributor adds a contact (+5 pending), the revealer (20 points)
    reveals it for 10, the reporter challenges it."""
    contributor = make_member(email="contributor@acme-test.example")
    revealer = make_member(email="revealer@acme-test.example")
    reporter = make_member(email="reporter@acme-test.example")
    moderator = make_member(email="moderator@acme-test.example", role="moderator")
    grant(db, revealer, 20, "grant:revealer")
    contact = contribute(db, contributor, now)
    reveal(db, revealer, contact, now)
    flag = challenge(db, reporter, contact, kind, now)
    return Scene(contributor, revealer, reporter, moderator, contact, flag)


def entries(db, member: Member, kind: EntryKind) -> list[int]:
    from sqlalchemy import select

    from portal.models import LedgerEntry

    return list(
        db.session.scalars(
            select(LedgerEntry.delta)
            .where(LedgerEntry.member_id == member.id, LedgerEntry.kind == kind)
            .order_by(LedgerEntry.id)
        )
    )
