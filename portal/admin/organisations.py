"""Organisations as Tessera's admins run them: create, rename, and read the
whole of one (members, invoices, invitations, its pooling choice).

Plans, seats and currency change through ``portal.billing.plans.change_plan``;
the pooling choice is the org admin's consent and is only shown here.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import record_audit
from portal.billing.plans import check_currency
from portal.models import Member, Organisation


class OrganisationRefused(ValueError):
    """The change is not allowed; the message says why, for the admin."""


def _clean_name(session: Session, name: str, keep: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise OrganisationRefused("Give the organisation a name.")
    taken = session.scalar(
        select(Organisation.id).where(
            func.lower(Organisation.name) == name.lower(),
            Organisation.id != (keep or 0),
        )
    )
    if taken is not None:
        raise OrganisationRefused(f"An organisation called {name} exists already.")
    return name


def create_organisation(
    session: Session, name: str, currency: str, *, actor: Member, ip: str | None
) -> Organisation:
    organisation = Organisation(
        name=_clean_name(session, name), currency=check_currency(currency)
    )
    session.add(organisation)
    session.flush()
    record_audit(
        "organisation.created",
        actor=actor,
        target=organisation,
        details={"name": organisation.name, "currency": organisation.currency},
        ip=ip,
        session=session,
    )
    return organisation


def rename_organisation(
    session: Session,
    organisation: Organisation,
    name: str,
    *,
    actor: Member,
    ip: str | None,
) -> Organisation:
    new_name = _clean_name(session, name, keep=organisation.id)
    if new_name != organisation.name:
        record_audit(
            "organisation.renamed",
            actor=actor,
            target=organisation,
            details={"from": organisation.name, "to": new_name},
            ip=ip,
            session=session,
        )
        organisation.name = new_name
        session.flush()
    return organisation


def organisations_with_counts(
    session: Session, text: str | None = None
) -> list[tuple[Organisation, int]]:
    """Every organisation (or those whose name contains ``text``) with its
    number of members, by name."""
    members = (
        select(Member.organisation_id, func.count().label("members"))
        .where(Member.organisation_id.is_not(None))
        .group_by(Member.organisation_id)
        .subquery()
    )
    query = (
        select(Organisation, func.coalesce(members.c.members, 0))
        .outerjoin(members, members.c.organisation_id == Organisation.id)
        .order_by(Organisation.name, Organisation.id)
    )
    if text and text.strip():
        query = query.where(
            func.lower(Organisation.name).contains(
                text.strip().lower(), autoescape=True
            )
        )
    return [(organisation, count) for organisation, count in session.execute(query)]
