"""The moderation queue and its decisions, through the web: ordering and
filters, claims, and each action's exact ledger effects, audit entry and
notice to the reporter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from portal import ledger
from portal.models import (
    AuditEntry,
    Contact,
    ContactNotice,
    ContactState,
    Disclosure,
    EntryKind,
    EntryState,
    Flag,
    FlagKind,
    FlagSource,
    FlagState,
    LedgerEntry,
    MemberSession,
    OutboxMessage,
    Revision,
    Unlock,
)
from portal.models.accounts import MemberStatus
from portal.moderation.flags import FlagRules, open_flag
from tests.conftest import csrf_token_from
from tests.moderation_helpers import (
    challenge,
    contribute,
    entries,
    grant,
    plant_scene,
    reveal,
)

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def scene(db, make_member):
    return plant_scene(db, make_member, NOW)


def _act(client, flag_id, action, **data):
    token = csrf_token_from(client.get(f"/moderation/{flag_id}").get_data(as_text=True))
    return client.post(
        f"/moderation/{flag_id}/actions/{action}",
        data={"csrf_token": token, **data},
        headers={"HX-Request": "true"},
    )


def _post(client, url, **data):
    token = csrf_token_from(client.get("/moderation").get_data(as_text=True))
    return client.post(
        url, data={"csrf_token": token, **data}, headers={"HX-Request": "true"}
    )


def _open(db, kind, source, contact=None, **fields):
    flag = open_flag(
        db.session,
        kind,
        source,
        fields.pop("now", NOW),
        FlagRules(),
        contact_id=contact.id if contact else None,
        **fields,
    )
    db.session.commit()
    return flag


def test_queue_orders_by_priority_then_due_and_marks_overdue(
    db, client, auth, make_member, make_contact
):
    """People's disputes come first, then members' challenges, then entry
    checks; among equals the earlier due date first; overdue is marked."""
    moderator = make_member(role="moderator")
    entry = _open(db, FlagKind.DOMAIN_MISMATCH, FlagSource.ENTRY, make_contact())
    late = _open(
        db,
        FlagKind.WRONG_INFO,
        FlagSource.MEMBER,
        make_contact(),
        now=NOW - timedelta(days=10),
    )
    member = _open(db, FlagKind.WRONG_INFO, FlagSource.MEMBER, make_contact())
    subject = _open(db, FlagKind.WRONG_INFO, FlagSource.SUBJECT, make_contact())
    auth.login(moderator.email)
    page = client.get("/moderation").get_data(as_text=True)
    positions = [
        page.index(f'id="flag-{f.id}"') for f in (subject, late, member, entry)
    ]
    assert positions == sorted(positions)
    late_row = page[page.index(f'id="flag-{late.id}"') :].split("</tr>")[0]
    assert "Overdue" in late_row
    assert (
        "Overdue" not in page[page.index(f'id="flag-{member.id}"') :].split("</tr>")[0]
    )


def test_queue_filters_by_kind_and_assignee_and_counts_by_kind(
    db, client, auth, make_member, make_contact
):
    """The kind filter narrows the list (a fragment for htmx); counters show
    every kind waiting."""
    moderator = make_member(role="moderator")
    mismatch = _open(db, FlagKind.DOMAIN_MISMATCH, FlagSource.ENTRY, make_contact())
    wrong = _open(db, FlagKind.WRONG_INFO, FlagSource.MEMBER, make_contact())
    auth.login(moderator.email)
    response = client.get("/moderation?kind=wrong_info", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="queue">')
    assert f'id="flag-{wrong.id}"' in html
    assert f'id="flag-{mismatch.id}"' not in html
    mine = client.get("/moderation?assignee=me").get_data(as_text=True)
    assert f'id="flag-{wrong.id}"' not in mine
    counters = client.get("/moderation/counters").get_data(as_text=True)
    assert 'data-kind="wrong_info"' in counters
    assert 'data-kind="domain_mismatch"' in counters


def test_claim_then_another_moderator_is_told(db, client, auth, scene, make_member):
    """The first claim wins; a second moderator's claim is refused with who
    holds it, and the row says so."""
    auth.login(scene.moderator.email)
    response = _post(client, f"/moderation/{scene.flag.id}/claim", **{"from": "queue"})
    assert response.status_code == 200
    assert "You" in response.get_data(as_text=True)
    auth.logout()
    other = make_member(role="moderator", display_name="Second Mod")
    auth.login(other.email)
    response = _post(client, f"/moderation/{scene.flag.id}/claim", **{"from": "queue"})
    assert response.status_code == 409
    assert "claimed this item first" in response.get_data(as_text=True)
    response = _act(client, scene.flag.id, "dismiss", reason="Looks fine")
    assert response.status_code == 422
    assert "claimed this item first" in response.get_data(as_text=True)
    db.session.expire_all()
    flag = db.session.get(Flag, scene.flag.id)
    assert (flag.state, flag.moderator_id) == (FlagState.CLAIMED, scene.moderator.id)


def test_graveyard_rewards_refunds_penalises_once(db, client, auth, scene):
    """Graveyarding: reporter +2, contributor's pending 5 void and -5 capped at
    their vested balance (1 royalty point), revealer refunded 10; acting
    again is refused with nothing moved twice; reporter emailed; audited;
    the contact page says it is gone."""
    auth.login(scene.moderator.email)
    response = _act(
        client,
        scene.flag.id,
        "graveyard",
        reason="Confirmed on LinkedIn",
        penalise="on",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "in the graveyard" in response.get_data(as_text=True)
    # The queue refreshes its counters; the header may carry other events too
    # (the member's new balance).
    assert "moderation-changed" in json.loads(response.headers["HX-Trigger"])
    again = _act(client, scene.flag.id, "graveyard", reason="Twice", penalise="on")
    assert again.status_code == 409
    assert "already upheld" in again.get_data(as_text=True)
    db.session.expire_all()
    assert entries(db, scene.reporter, EntryKind.CHALLENGE_REWARD) == [2]
    assert entries(db, scene.revealer, EntryKind.REFUND) == [10]
    assert ledger.balance(db.session, scene.revealer.id).vested == 20
    assert entries(db, scene.contributor, EntryKind.PENALTY) == [-1]
    assert ledger.balance(db.session, scene.contributor.id) == ledger.Balance(0, 0)
    contribution = db.session.scalar(
        select(LedgerEntry).where(LedgerEntry.kind == EntryKind.CONTRIBUTION)
    )
    assert contribution.state == EntryState.VOID
    assert db.session.get(Contact, scene.contact.id).state == ContactState.GRAVEYARD
    mail = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "moderation_decision")
    ).all()
    assert [m.to_address for m in mail] == [scene.reporter.email]
    assert (
        db.session.scalar(
            select(func.count()).where(AuditEntry.action == "moderation.graveyarded")
        )
        == 1
    )
    page = client.get(f"/contacts/{scene.contact.id}").get_data(as_text=True)
    assert "No longer there" in page


def test_points_page_shows_the_reporters_decisions(db, client, auth, scene):
    """The reporter sees the reward with its note, and the report's outcome."""
    auth.login(scene.moderator.email)
    _act(client, scene.flag.id, "graveyard", reason="Left in October", penalise="on")
    auth.logout()
    auth.login(scene.reporter.email)
    page = client.get("/points").get_data(as_text=True)
    assert "Challenge upheld" in page
    assert "Left in October" in page
    assert 'id="my-reports"' in page


def test_dismiss_moves_no_points_and_reactivates(db, client, auth, scene):
    """Dismissing: no ledger entry, the disputed contact is active again."""
    auth.login(scene.moderator.email)
    before = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    response = _act(client, scene.flag.id, "dismiss", reason="Still there")
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == before
    assert db.session.get(Contact, scene.contact.id).state == ContactState.ACTIVE
    assert db.session.get(Flag, scene.flag.id).state == FlagState.DISMISSED


def test_dismiss_needs_a_reason(db, client, auth, scene):
    """No reason: a clear message, nothing resolved."""
    auth.login(scene.moderator.email)
    response = _act(client, scene.flag.id, "dismiss", reason=" ")
    assert response.status_code == 422
    assert "Give a reason" in response.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(Flag, scene.flag.id).state.resolved


def test_correct_applies_fields_as_a_moderators_revision(db, client, auth, make_member):
    """A wrong-info challenge upheld with corrected fields: the contact
    changes, the change is a moderator's revision, the reporter gets +2."""
    scene = plant_scene(db, make_member, NOW, kind=FlagKind.WRONG_INFO)
    auth.login(scene.moderator.email)
    response = _act(
        client,
        scene.flag.id,
        "correct",
        reason="Title changed",
        title="Chief Procurement Officer",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    contact = db.session.get(Contact, scene.contact.id)
    assert contact.title == "Chief Procurement Officer"
    assert contact.state == ContactState.ACTIVE
    revision = db.session.scalars(
        select(Revision)
        .where(Revision.contact_id == contact.id)
        .order_by(Revision.id.desc())
    ).first()
    assert (revision.source.value, revision.member_id) == (
        "moderator",
        scene.moderator.id,
    )
    assert entries(db, scene.reporter, EntryKind.CHALLENGE_REWARD) == [2]


def test_correct_refuses_a_personal_email(db, client, auth, make_member):
    """Corrections pass the entry checks: a free-mail address is refused."""
    scene = plant_scene(db, make_member, NOW, kind=FlagKind.WRONG_INFO)
    auth.login(scene.moderator.email)
    response = _act(
        client, scene.flag.id, "correct", reason="x", email="amara@gmail.com"
    )
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Contact, scene.contact.id).email.endswith(
        "brightwater-analytics.com"
    )
    assert not db.session.get(Flag, scene.flag.id).state.resolved


def test_merge_keeps_everyones_access_and_refunds_a_double_payment_once(
    db, client, auth, make_member
):
    """Merging a duplicate: the survivor keeps both records' revisions,
    unlocks and disclosures; a member who paid for both is refunded once;
    the other record is deleted; the email chosen from the other is kept."""
    scene = plant_scene(db, make_member, NOW, kind=FlagKind.DUPLICATE)
    second = make_member(email="second@acme-test.example")
    duplicate = contribute(
        db,
        second,
        NOW,
        first_name="Amara",
        last_name="Okafor",
        email="a.okafor@brightwater-analytics.com",
        title="Procurement Lead",
    )
    reveal(db, scene.revealer, duplicate, NOW)  # paid twice for one person
    paying = make_member(email="payer@acme-test.example")
    grant(db, paying, 20, "grant:payer")
    reveal(db, paying, duplicate, NOW)
    revisions = db.session.scalar(select(func.count()).select_from(Revision))
    duplicate_id = duplicate.id
    auth.login(scene.moderator.email)
    response = _act(
        client,
        scene.flag.id,
        "merge",
        reason="Same person",
        survivor_id=scene.contact.id,
        other_id=duplicate_id,
        winner_email="other",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, duplicate_id) is None
    survivor = db.session.get(Contact, scene.contact.id)
    assert survivor.email == "a.okafor@brightwater-analytics.com"
    assert survivor.title == "Head of Procurement"
    holders = set(
        db.session.scalars(
            select(Unlock.member_id).where(Unlock.contact_id == survivor.id)
        )
    )
    assert holders == {scene.revealer.id, paying.id}
    assert (
        db.session.scalar(
            select(func.count()).where(Disclosure.contact_id == survivor.id)
        )
        == 3
    )
    assert (
        db.session.scalar(select(func.count()).select_from(Revision)) == revisions + 1
    )
    assert entries(db, scene.revealer, EntryKind.REFUND) == [10]
    assert entries(db, paying, EntryKind.REFUND) == []
    # The later record was the duplicate: its contributor's pending 5 void,
    # the first contributor's stay pending.
    assert ledger.balance(db.session, second.id) == ledger.Balance(0, 0)
    assert ledger.balance(db.session, scene.contributor.id).pending == 5
    again = _act(
        client,
        scene.flag.id,
        "merge",
        reason="again",
        survivor_id=survivor.id,
        other_id=duplicate_id,
    )
    assert again.status_code == 409
    assert entries(db, scene.revealer, EntryKind.REFUND) == [10]


def test_merge_with_itself_or_a_graveyard_contact_is_refused(
    db, client, auth, make_member, make_contact
):
    """Merging a record with itself, or with one in the graveyard: refused
    with the reason, the item stays unresolved."""
    scene = plant_scene(db, make_member, NOW, kind=FlagKind.DUPLICATE)
    gone = make_contact(company=scene.contact.company, state=ContactState.GRAVEYARD)
    auth.login(scene.moderator.email)
    itself = _act(
        client,
        scene.flag.id,
        "merge",
        reason="x",
        survivor_id=scene.contact.id,
        other_id=scene.contact.id,
    )
    assert itself.status_code == 422
    assert "cannot be merged with itself" in itself.get_data(as_text=True)
    graveyard = _act(
        client,
        scene.flag.id,
        "merge",
        reason="x",
        survivor_id=scene.contact.id,
        other_id=gone.id,
    )
    assert graveyard.status_code == 422
    assert "is in the graveyard" in graveyard.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(Flag, scene.flag.id).state.resolved
    assert db.session.get(Contact, gone.id) is not None


def test_delete_keeps_the_item(db, client, auth, make_member):
    """A personal-data record is deleted; the upheld item stays on record."""
    scene = plant_scene(db, make_member, NOW, kind=FlagKind.PERSONAL_DATA)
    contact_id = scene.contact.id
    auth.login(scene.moderator.email)
    response = _act(client, scene.flag.id, "delete", reason="Home address in title")
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, contact_id) is None
    flag = db.session.get(Flag, scene.flag.id)
    assert flag.state == FlagState.UPHELD and flag.contact_id is None
    assert entries(db, scene.reporter, EntryKind.CHALLENGE_REWARD) == [2]


def test_approving_a_held_contact_activates_it_and_vests(db, client, auth, make_member):
    """Edit and approve a contact held for a domain mismatch: it becomes
    active with the edit, the hold is dismissed, the points vest."""
    contributor = make_member()
    moderator = make_member(role="moderator")
    contact = contribute(db, contributor, NOW, email="amara.okafor@brightwater.io")
    assert contact.state == ContactState.HELD
    flag = db.session.scalars(select(Flag)).one()
    auth.login(moderator.email)
    response = _act(client, flag.id, "approve", reason="Their new domain", city="Leeds")
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    contact = db.session.get(Contact, contact.id)
    assert (contact.state, contact.city) == (ContactState.ACTIVE, "Leeds")
    assert db.session.get(Flag, flag.id).state == FlagState.DISMISSED
    assert ledger.balance(db.session, contributor.id) == ledger.Balance(5, 0)
    # Now active, the person is told (Art 14): their notice is queued once.
    notices = db.session.scalars(
        select(ContactNotice).where(ContactNotice.contact_id == contact.id)
    ).all()
    assert len(notices) == 1


def test_penalty_never_takes_the_balance_below_zero(db, client, auth, scene):
    """Asking 50 from a contributor with 1 vested point takes 1."""
    auth.login(scene.moderator.email)
    response = _act(
        client, scene.flag.id, "penalise", reason="Roster copying", points="50"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    assert entries(db, scene.contributor, EntryKind.PENALTY) == [-1]
    assert ledger.balance(db.session, scene.contributor.id).vested == 0


def test_suspending_revokes_the_contributors_sessions(db, app, auth, scene):
    """The suspended contributor's open session stops working at once."""
    contributor_client = app.test_client()
    from tests.conftest import AuthActions

    AuthActions(contributor_client).login(scene.contributor.email)
    assert contributor_client.get("/points").status_code == 200
    moderator_client = app.test_client()
    AuthActions(moderator_client).login(scene.moderator.email)
    response = _act(moderator_client, scene.flag.id, "suspend", reason="Fake contacts")
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    assert scene.contributor.status == MemberStatus.SUSPENDED
    assert (
        db.session.scalar(
            select(func.count()).where(
                MemberSession.member_id == scene.contributor.id,
                MemberSession.revoked_at.is_(None),
            )
        )
        == 0
    )
    assert contributor_client.get("/points").status_code == 302


def test_a_moderator_cannot_decide_on_their_own_contribution(
    db, client, auth, make_member
):
    """A moderator who contributed the contact is refused, and the page says why."""
    moderator = make_member(role="moderator")
    reporter = make_member()
    contact = contribute(db, moderator, NOW)
    flag = challenge(db, reporter, contact, FlagKind.LEFT_COMPANY, NOW)
    auth.login(moderator.email)
    page = client.get(f"/moderation/{flag.id}").get_data(as_text=True)
    assert "your own contribution" in page
    response = _act(client, flag.id, "dismiss", reason="Mine is fine")
    assert response.status_code == 422
    claim = _post(client, f"/moderation/{flag.id}/claim", **{"from": "queue"})
    assert claim.status_code == 409
    assert "your own contribution" in claim.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(Flag, flag.id).state.resolved


def test_bulk_dismiss_takes_items_out_of_the_queue(
    db, client, auth, make_member, make_contact
):
    """Ticked items are dismissed at once and leave the returned queue."""
    moderator = make_member(role="moderator")
    flags = [
        _open(db, FlagKind.DOMAIN_MISMATCH, FlagSource.ENTRY, make_contact())
        for _ in range(3)
    ]
    auth.login(moderator.email)
    token = csrf_token_from(client.get("/moderation").get_data(as_text=True))
    response = client.post(
        "/moderation/bulk",
        data={
            "csrf_token": token,
            "operation": "dismiss",
            "reason": "Known alias domains",
            "flag_ids": [str(flags[0].id), str(flags[1].id)],
        },
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert "2 items dismissed" in html
    assert f'id="flag-{flags[0].id}"' not in html
    assert f'id="flag-{flags[2].id}"' in html


def test_item_page_shows_diff_revisions_contributor_and_candidates(
    db, client, auth, make_member
):
    """The item shows the contributor's record and the matcher's candidates."""
    scene = plant_scene(db, make_member, NOW, kind=FlagKind.DUPLICATE)
    contribute(
        db,
        make_member(),
        NOW,
        first_name="Amara",
        last_name="Okafer",
        email="amara.o@brightwater-analytics.com",
    )
    auth.login(scene.moderator.email)
    page = client.get(f"/moderation/{scene.flag.id}").get_data(as_text=True)
    assert "She moved to Globex." in page
    assert 'id="contributor"' in page and "Contributions" in page
    candidates = page[page.index('id="candidates"') :]
    assert "Okafer" in candidates
    assert "Keyboard shortcuts" in page


def test_release_is_for_the_holder(db, client, auth, scene, make_member):
    """Only the holder releases a claim (another moderator is told who holds
    it); released, the item is open again."""
    auth.login(scene.moderator.email)
    _post(client, f"/moderation/{scene.flag.id}/claim", **{"from": "queue"})
    auth.logout()
    auth.login(make_member(role="moderator").email)
    refused = _post(client, f"/moderation/{scene.flag.id}/release", **{"from": "queue"})
    assert refused.status_code == 409
    auth.logout()
    auth.login(scene.moderator.email)
    released = _post(
        client, f"/moderation/{scene.flag.id}/release", **{"from": "queue"}
    )
    assert released.status_code == 200
    assert "Claim" in released.get_data(as_text=True)
    db.session.expire_all()
    flag = db.session.get(Flag, scene.flag.id)
    assert (flag.state, flag.moderator_id) == (FlagState.OPEN, None)


def test_an_admin_starts_the_sweep_from_the_jobs_page(db, client, auth, make_member):
    """The button records a quality_sweep run and says so."""
    from portal.models import JobRun

    admin = make_member(role="admin")
    auth.login(admin.email)
    token = csrf_token_from(client.get("/admin/jobs").get_data(as_text=True))
    response = client.post(
        "/admin/jobs/quality-sweep", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Quality sweep started" in response.get_data(as_text=True)
    assert db.session.scalars(select(JobRun.kind)).all() == ["quality_sweep"]
