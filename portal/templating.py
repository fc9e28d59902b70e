"""Template globals: navigation by role, formatting filters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask import Flask, Response, request
from flask_login import current_user

from portal import ledger
from portal.extensions import db
from portal.masking import mask_email
from portal.models import Role
from portal.normalise import country_name, format_phone, phone_uri
from portal.privacy.consent import contributor_label
from portal.privacy.report import person_confirmed
from portal.titles import department_label, seniority_label


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    roles: tuple[Role, ...] = ()  # empty: every logged-in member
    # Shown only to members who belong to an organisation.
    needs_organisation: bool = False


NAVIGATION = (
    NavItem("main.home", "Home"),
    NavItem("search.search", "Search"),
    NavItem("contacts.new", "Contribute"),
    NavItem("my.contacts", "My contacts"),
    NavItem("companies.index", "Companies"),
    NavItem("points.overview", "Points"),
    NavItem("lists.index", "Lists"),
    NavItem("account.profile", "Profile"),
    NavItem("org.overview", "Organisation", (Role.ORG_ADMIN,), needs_organisation=True),
    NavItem("moderation.queue", "Moderation", (Role.MODERATOR,)),
    NavItem("admin.dashboard", "Admin", (Role.ADMIN,)),
)


def navigation() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    return [
        item
        for item in NAVIGATION
        if (not item.roles or current_user.has_role(*item.roles))
        and (not item.needs_organisation or current_user.organisation_id is not None)
    ]


def header_balance() -> int | None:
    """The signed-in member's vested points, for the header; None for visitors."""
    if not current_user.is_authenticated or not db.session.is_active:
        # An error page after a failed transaction shows no balance rather
        # than fail again.
        return None
    return ledger.vested_balance(db.session, current_user.id)


BALANCE_EVENT = "balance-changed"


def add_balance_event(response: Response) -> Response:
    """After an htmx request that may have moved points (any successful
    non-GET: a reveal, a contribution, a confirmation...), tell the page the
    member's vested balance in an ``HX-Trigger`` event, so the header follows
    without a reload. Events a view set already are kept."""
    if (
        request.method == "GET"
        or not request.headers.get("HX-Request")
        or not 200 <= response.status_code < 300
        or not current_user.is_authenticated
    ):
        return response
    events: dict[str, object] = {}
    if existing := response.headers.get("HX-Trigger"):
        try:
            loaded = json.loads(existing)
        except ValueError:
            loaded = None
        events = (
            loaded
            if isinstance(loaded, dict)
            else {name.strip(): None for name in existing.split(",") if name.strip()}
        )
    events[BALANCE_EVENT] = {"vested": header_balance()}
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def format_date(value: datetime | None) -> str:
    """ "2 Nov 2026", the way provenance reads."""
    if value is None:
        return "—"
    value = value.astimezone(UTC)
    return f"{value.day} {value:%b %Y}"


def format_day(value: date) -> str:
    """ "2 Nov 2026", for a calendar day."""
    return f"{value.day} {value:%b %Y}"


def format_duration(value: timedelta) -> str:
    """ "3 days 4 hours", "5 hours", "12 minutes": the two largest units."""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    shown = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n][:2]
    return " ".join(shown) or "under a minute"


def format_relative(value: datetime | None) -> str:
    """'3 weeks ago' style, for freshness labels."""
    if value is None:
        return "never"
    seconds = (datetime.now(UTC) - value).total_seconds()
    for unit, size in (
        ("year", 31536000),
        ("month", 2592000),
        ("week", 604800),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def format_number(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def format_money(amount: Decimal | int, currency: str) -> str:
    """ "1,234.50 EUR": two decimals, thousands separated, the ISO code after."""
    return f"{Decimal(amount):,.2f} {currency}"


def confirmed_by_person(contact_id: int) -> bool:
    """True when the person listed confirmed the contact is accurate."""
    return person_confirmed(db.session, contact_id)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["day"] = format_day
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.filters["mask_email"] = mask_email
    app.jinja_env.filters["relative"] = format_relative
    app.jinja_env.filters["thousands"] = lambda n: f"{n:,}"
    app.jinja_env.filters["number"] = format_number
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["seniority_label"] = seniority_label
    app.jinja_env.filters["department_label"] = department_label
    app.jinja_env.filters["country_name"] = lambda code: country_name(code) or code
    app.jinja_env.filters["phone"] = format_phone
    app.jinja_env.filters["tel"] = phone_uri
    # "Confirmed by the person" badges, wherever a contact is shown.
    app.jinja_env.globals["confirmed_by_person"] = confirmed_by_person
    # A contributor as they chose to be named (pseudonym or display name).
    app.jinja_env.globals["contributor_label"] = lambda member: contributor_label(
        db.session, member
    )

    @app.context_processor
    def inject_navigation():
        return {
            "navigation": navigation(),
            "current_endpoint": request.endpoint,
            "header_balance": header_balance(),
        }

    @app.after_request
    def announce_balance(response: Response) -> Response:
        return add_balance_event(response)
