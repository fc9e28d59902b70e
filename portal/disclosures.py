"""Disclosures: the one way to record that contact details left Tessera.

The privacy center lists these as a contact's recipients, and erasures are
passed on to them, so every path that hands out details calls this.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from portal.models import Disclosure, DisclosureChannel, Member


def record_disclosures(
    session: Session,
    contact_ids: Iterable[int],
    recipient: Member,
    channel: DisclosureChannel,
    now: datetime,
) -> None:
    """Record that ``recipient`` (and their organisation) received these contacts."""
    session.add_all(
        Disclosure(
            contact_id=contact_id,
            member_id=recipient.id,
            organisation_id=recipient.organisation_id,
            channel=channel,
            created_at=now,
        )
        for contact_id in contact_ids
    )
    session.flush()
