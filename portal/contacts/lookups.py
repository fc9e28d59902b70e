"""Answers that tell a member whether a person or an email is known, counted.

Masked emails stay masked only if guessing them is expensive: "already known"
on the form, a duplicate or updated row in a CSV report, and the likely
duplicates shown while typing each say something about who Tessera knows. Each
such answer is a ``ContactLookup`` row. A member gets at most
``known_answer_daily_limit`` of them a day, and those that wrote no revision
count against the tier's daily contribution cap as well (``contributions_today``
in the points services), so every guess costs a contribution whether it was
right or wrong. Both limits are checked before a submission is looked at, so a
refusal says nothing about what was submitted. Functions flush; the caller
commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import ContactLookup, LookupChannel
from portal.points import services as points


class AnswerLimitReached(Exception):
    """The member may ask no more today; ``message`` says which limit."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def known_answers_today(session: Session, member_id: int, now: datetime) -> int:
    return session.scalar(
        select(func.count()).where(
            ContactLookup.member_id == member_id,
            ContactLookup.created_at >= points.start_of_day(now),
        )
    )


def check_allowance(
    session: Session, member_id: int, rules: points.Rules, now: datetime
) -> None:
    """Raise ``AnswerLimitReached`` when the member has used today's
    contributions (the tier's cap) or today's answers about known contacts."""
    tier = points.member_tier(session, member_id, rules, now)
    if points.contributions_today(session, member_id, now) >= tier.daily_cap:
        raise AnswerLimitReached(
            f"You have reached today's limit of {tier.daily_cap} contributions "
            f"for {tier.name} members (duplicate checks count too). It resets at "
            "midnight UTC."
        )
    if known_answers_today(session, member_id, now) >= rules.known_answer_daily_limit:
        raise AnswerLimitReached(
            f"You have had {rules.known_answer_daily_limit} answers about contacts "
            "Tessera already knows today, the daily limit. It resets at midnight "
            "UTC."
        )


def record_answer(
    session: Session,
    member_id: int,
    contact_id: int | None,
    channel: LookupChannel,
    now: datetime,
    *,
    revision_id: int | None = None,
) -> None:
    """Count one answer about a known contact."""
    session.add(
        ContactLookup(
            member_id=member_id,
            contact_id=contact_id,
            channel=channel,
            revision_id=revision_id,
            created_at=now,
        )
    )
    session.flush()


def record_live_answers(
    session: Session, member_id: int, contact_ids: Iterable[int], now: datetime
) -> None:
    """Count the likely duplicates shown while typing: once per contact per
    day, since showing the same masked contact again tells nothing new."""
    ids = set(contact_ids)
    if not ids:
        return
    shown = set(
        session.scalars(
            select(ContactLookup.contact_id).where(
                ContactLookup.member_id == member_id,
                ContactLookup.channel == LookupChannel.LIVE,
                ContactLookup.contact_id.in_(ids),
                ContactLookup.created_at >= points.start_of_day(now),
            )
        )
    )
    for contact_id in sorted(ids - shown):
        record_answer(session, member_id, contact_id, LookupChannel.LIVE, now)
