"""What each contact state allows is decided once, on ``ContactState``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.models import Contact, ContactState

# state: (searchable, revealable, matchable)
ALLOWS = {
    ContactState.ACTIVE: (True, True, True),
    ContactState.DISPUTED: (True, True, True),
    ContactState.HELD: (False, False, True),
    ContactState.GRAVEYARD: (False, False, False),
}


@pytest.mark.parametrize("state", list(ContactState))
def test_each_state_declares_what_it_allows(state):
    """Search and reveal skip held and graveyard contacts; matching skips only
    the graveyard, so a held contact is not contributed twice."""
    assert (state.searchable, state.revealable, state.matchable) == ALLOWS[state]


def test_state_lists_follow_the_properties(db, make_contact):
    """The lists queries filter on select exactly the states whose property
    says so, in the database as in Python."""
    for state in ContactState:
        make_contact(state=state)
    for states, allowed in (
        (ContactState.searchable_states(), lambda s: s.searchable),
        (ContactState.revealable_states(), lambda s: s.revealable),
        (ContactState.matchable_states(), lambda s: s.matchable),
    ):
        found = set(
            db.session.scalars(select(Contact.state).where(Contact.state.in_(states)))
        )
        assert found == {state for state in ContactState if allowed(state)}
