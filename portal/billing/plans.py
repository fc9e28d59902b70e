"""Plans: what each organisation's members receive every month.

Free: nothing. Pro: ``PRO_ALLOWANCE_PER_SEAT`` points for each seat.
Enterprise: the organisation's own ``custom_allowance`` for each seat. A seat
is held by an active member of the organisation; when there are more members
than seats, the oldest accounts (lowest member id) hold them. Members
without an organisation are on Free.
"""

from __future__ import annotations

from dataclasses import dataclass

import pycountry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.billing.rules import BillingRules
from portal.models import Member, Organisation
from portal.models.accounts import MemberStatus, Plan

# The largest Enterprise allowance per seat a typo could plausibly not mean.
MAX_CUSTOM_ALLOWANCE = 1_000_000
MAX_ORGANISATION_NAME = 200


class PlanError(ValueError):
    """A plan change was refused; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def organisation_named(
    session: Session, name: str, *, currency: str
) -> tuple[Organisation, bool]:
    """The organisation called ``name`` (case and surrounding spaces ignored),
    created on the Free plan in ``currency`` when there is none; and whether it
    was created. Flushes.

    Raises ``PlanError`` for a blank or over-long name, or when two
    organisations already carry the name (say which one by id instead).
    """
    name = " ".join(name.split())
    if not name:
        raise PlanError("organisation", "Give the organisation a name.")
    if len(name) > MAX_ORGANISATION_NAME:
        raise PlanError(
            "organisation",
            f"An organisation name has at most {MAX_ORGANISATION_NAME} characters.",
        )
    found = session.scalars(
        select(Organisation).where(func.lower(Organisation.name) == name.lower())
    ).all()
    if len(found) > 1:
        raise PlanError(
            "organisation",
            f"{len(found)} organisations are called {name!r} "
            f"(ids {', '.join(str(o.id) for o in found)}).",
        )
    if found:
        return found[0], False
    organisation = Organisation(name=name, currency=check_currency(currency))
    session.add(organisation)
    session.flush()
    return organisation, True


@dataclass(frozen=True)
class PlanChange:
    before: dict
    after: dict


def allowance_per_seat(organisation: Organisation, rules: BillingRules) -> int:
    """The points each seat holder receives a month on the organisation's plan."""
    if organisation.plan == Plan.PRO:
        return rules.pro_allowance_per_seat
    if organisation.plan == Plan.ENTERPRISE:
        return organisation.custom_allowance or 0
    return 0


def seat_holders(session: Session, organisation: Organisation) -> list[Member]:
    """The active members holding the organisation's seats, earliest first."""
    return list(
        session.scalars(
            select(Member)
            .where(
                Member.organisation_id == organisation.id,
                Member.status == MemberStatus.ACTIVE,
            )
            .order_by(Member.id)
            .limit(max(organisation.seats, 0))
        )
    )


# ISO 4217 codes that are not money one can invoice in: precious metals, fund
# and settlement units, the testing code and "no currency".
NOT_MONEY = frozenset(
    {
        "XAG",
        "XAU",
        "XBA",
        "XBB",
        "XBC",
        "XBD",
        "XDR",
        "XPD",
        "XPT",
        "XSU",
        "XTS",
        "XUA",
        "XXX",
    }
)


def currency_choices() -> list[tuple[str, str]]:
    """(ISO 4217 code, "EUR — Euro") for every currency, by code."""
    return sorted(
        (currency.alpha_3, f"{currency.alpha_3} — {currency.name}")
        for currency in pycountry.currencies
        if currency.alpha_3 not in NOT_MONEY
    )


def check_currency(code: str) -> str:
    """The upper-cased ISO 4217 code; raises ``PlanError`` for anything else
    (and for the codes in ``NOT_MONEY``)."""
    code = (code or "").strip().upper()
    if code in NOT_MONEY or pycountry.currencies.get(alpha_3=code) is None:
        raise PlanError(
            "currency", f"{code or 'An empty code'} is not an ISO 4217 currency."
        )
    return code


def _snapshot(organisation: Organisation) -> dict:
    return {
        "plan": organisation.plan.value,
        "seats": organisation.seats,
        "custom_allowance": organisation.custom_allowance,
        "currency": organisation.currency,
    }


def change_plan(
    session: Session,
    organisation: Organisation,
    *,
    plan: Plan,
    seats: int,
    currency: str,
    rules: BillingRules,
    custom_allowance: int | None = None,
) -> PlanChange:
    """Set the organisation's plan, seats, currency and (Enterprise) allowance.

    Takes the organisation's row lock first (PostgreSQL), so a change and an
    allowance run for the same organisation happen one after the other.
    Raises ``PlanError`` for seats outside 1..MAX_SEATS, a missing or absurd
    Enterprise allowance, or an unknown currency. Flushes.
    """
    if not 1 <= seats <= rules.max_seats:
        raise PlanError("seats", f"Seats must be between 1 and {rules.max_seats:,}.")
    if plan == Plan.ENTERPRISE:
        if (
            custom_allowance is None
            or not 1 <= custom_allowance <= MAX_CUSTOM_ALLOWANCE
        ):
            raise PlanError(
                "custom_allowance",
                "Enterprise needs a monthly allowance per seat between 1 and "
                f"{MAX_CUSTOM_ALLOWANCE:,} points.",
            )
    else:
        custom_allowance = None
    currency = check_currency(currency)
    session.execute(
        select(Organisation.id)
        .where(Organisation.id == organisation.id)
        .with_for_update()
    )
    session.refresh(organisation)
    before = _snapshot(organisation)
    organisation.plan = plan
    organisation.seats = seats
    organisation.currency = currency
    organisation.custom_allowance = custom_allowance
    session.flush()
    return PlanChange(before=before, after=_snapshot(organisation))
