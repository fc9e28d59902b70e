"""Disclosures: the one way to record that contact details left Tessera.

The privacy center lists these as a contact's recipients, and erasures are
passed on to them, so every path that hands out details calls this.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from portal.models import Disclosure, DisclosureChannel, Member, Organisation


def record_disclosures(
    session: Session,
    contact_ids: Iterable[int],
    recipient: Member | Organisation,
    channel: DisclosureChannel,
    now: datetime,
) -> None:
    """Record that ``recipient`` received these contacts: a member (and their
    organisation), or an organisation as a whole (a list delivery)."""
    if isinstance(recipient, Organisation):
        member_id, organisation_id = None, recipient.id
    else:
        member_id, organisation_id = recipient.id, recipient.organisation_id
    session.add_all(
        Disclosure(
            contact_id=contact_id,
            member_id=member_id,
            organisation_id=organisation_id,
            channel=channel,
            created_at=now,
        )
        for contact_id in contact_ids
    )
    session.flush()
