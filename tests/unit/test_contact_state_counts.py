"""The contact counters by state (migration 0011's triggers) follow every write."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from portal.admin import metrics
from portal.models import Contact, ContactState, ContactStateCount
from tests.factories import bulk_insert_contacts


def counted(db) -> dict[ContactState, int]:
    """What a full count of the contacts table gives, every state listed."""
    rows = dict(
        db.session.execute(
            select(Contact.state, func.count()).group_by(Contact.state)
        ).all()
    )
    return {state: rows.get(state, 0) for state in ContactState}


def kept(db) -> dict[ContactState, int]:
    return dict(metrics.contacts_by_state(db.session))


def test_counters_follow_orm_inserts_updates_and_deletes(db, make_contact):
    """Adding, moving between states and deleting contacts keep the counters
    equal to a full count."""
    contacts = [make_contact() for _ in range(4)]
    make_contact(state=ContactState.HELD)
    assert (
        kept(db)
        == counted(db)
        == {
            ContactState.ACTIVE: 4,
            ContactState.HELD: 1,
            ContactState.DISPUTED: 0,
            ContactState.GRAVEYARD: 0,
        }
    )
    contacts[0].state = ContactState.GRAVEYARD
    contacts[1].state = ContactState.DISPUTED
    contacts[2].title = "Chief Revenue Officer"  # not a state change
    db.session.commit()
    db.session.delete(contacts[3])
    db.session.commit()
    assert kept(db) == counted(db)
    assert kept(db)[ContactState.ACTIVE] == 1


def test_counters_follow_bulk_loads_and_set_based_sql(db, make_company):
    """A bulk load (COPY on PostgreSQL) and one UPDATE or DELETE of many rows
    are counted too."""
    company = make_company()
    bulk_insert_contacts(
        db,
        [
            {
                "first_name": "Ann",
                "last_name": f"Bulk{n}",
                "title": "Buyer",
                "company_id": company.id,
                "email": f"ann{n}@{company.domain}",
                "state": "held" if n % 3 == 0 else "active",
                "created_at": 1_780_000_000,
                "updated_at": 1_780_000_000,
            }
            for n in range(300)
        ],
    )
    assert kept(db) == counted(db)
    assert kept(db)[ContactState.HELD] == 100
    db.session.execute(
        update(Contact)
        .where(Contact.state == ContactState.HELD)
        .values(state=ContactState.ACTIVE)
    )
    db.session.execute(delete(Contact).where(Contact.last_name.like("Bulk1%")))
    db.session.commit()
    assert kept(db) == counted(db)
    assert kept(db)[ContactState.HELD] == 0


def test_folding_keeps_one_row_per_state_and_the_same_counts(db, make_contact):
    """The roll-up folds the counter rows into one per state; counts stay."""
    for state in (ContactState.ACTIVE, ContactState.HELD, ContactState.ACTIVE):
        make_contact(state=state)
    before = kept(db)
    metrics.fold_contact_state_counts(db.session)
    db.session.commit()
    assert kept(db) == before == counted(db)
    per_state = db.session.execute(
        select(ContactStateCount.state, func.count()).group_by(ContactStateCount.state)
    ).all()
    assert all(rows == 1 for _, rows in per_state)
    make_contact()
    assert kept(db) == counted(db)
