"""Template globals: navigation by role, formatting filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask import Flask, request
from flask_login import current_user

from portal.masking import mask_email
from portal.models import Role


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    roles: tuple[Role, ...] = ()  # empty: every logged-in member


NAVIGATION = (
    NavItem("main.home", "Home"),
    NavItem("search.search", "Search"),
    NavItem("contacts.new", "Contribute"),
    NavItem("my.contacts", "My contacts"),
    NavItem("companies.index", "Companies"),
    NavItem("points.overview", "Points"),
    NavItem("account.profile", "Profile"),
    NavItem("moderation.queue", "Moderation", (Role.MODERATOR,)),
    NavItem("admin.dashboard", "Admin", (Role.ADMIN,)),
)


def navigation() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    return [
        item
        for item in NAVIGATION
        if not item.roles or current_user.has_role(*item.roles)
    ]


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

    @app.context_processor
    def inject_navigation():
        return {"navigation": navigation(), "current_endpoint": request.endpoint}
