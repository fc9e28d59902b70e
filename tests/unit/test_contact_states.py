"""What each contact state allows is decided once, on ``ContactState``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.models import Contact, ContactState

# state: (searchable, revealable, duplicate_checked, matchable)
ALLOWS = {
    ContactState.ACTIVE: (True, True, True, True),
    ContactState.DISPUTED: (True, True, True, True),
    ContactState.HELD: (False, False, True, False),
    ContactState.GRAVEYARD: (False, False, False, False),
}


@pytest.mark.parametrize("state", list(ContactState))
def test_each_state_declares_what_it_allows(state):
    """Search, reveal and list matching skip held and graveyard contacts; the
    duplicate check skips only the graveyard, so a held contact is not
    contributed twice."""
    allows = (state.searchable, state.revealable, state.duplicate_checked)
    assert (*allows, state.matchable) == ALLOWS[state]


def test_state_lists_follow_the_properties(db, make_contact):
    """The lists queries filter on select exactly the states whose property
    says so, in the database as in Python."""
    for state in ContactState:
        make_contact(state=state)
    for states, allowed in (
        (ContactState.searchable_states(), lambda s: s.searchable),
        (ContactState.revealable_states(), lambda s: s.revealable),
        (ContactState.duplicate_checked_states(), lambda s: s.duplicate_checked),
        (ContactState.matchable_states(), lambda s: s.matchable),
    ):
        found = set(
            db.session.scalars(select(Contact.state).where(Contact.state.in_(states)))
        )
        assert found == {state for state in ContactState if allowed(state)}
