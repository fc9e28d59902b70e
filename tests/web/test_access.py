"""Role gating: who may use which route (role x route x method), and whose
objects they may open (own x other).

The matrix is generated from the app's URL map: every endpoint, for every
method it accepts, must declare its access in ``ACCESS`` below. A route that
nobody declared fails the suite with its name, so no route lands without an
access check that somebody thought about.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, url_for
from sqlalchemy import select

from portal import create_app
from portal.auth.services import start_email_verification
from portal.billing.invoices import LineInput, create_invoice
from portal.billing.rules import BillingRules
from portal.models import (
    ContactState,
    FlagKind,
    FlagSource,
    JobRun,
    Member,
    Organisation,
)
from portal.models.base import utcnow
from portal.moderation.flags import FlagRules, open_flag
from tests.conftest import csrf_token_from
from tests.factories import Factories

ROLES = ("visitor", "member", "org_admin", "moderator", "admin")
SIGNED_IN_ROLES = frozenset(ROLES) - {"visitor"}
# Methods Werkzeug answers for every route; they are not access decisions.
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}

# What a request can come to.
ALLOWED = "allowed"
LOGIN = "redirect to login"
FORBIDDEN = "403"
NOT_FOUND = "404"
NOT_ALLOWED = "405"

UNAUTHORISED = "401"

# The view answered the request itself: a page, a redirect elsewhere, a
# started job, a form with errors, or a domain refusal (points, conflicts).
VIEW_STATUSES = {200, 202, 204, 302, 303, 402, 409, 422}


@dataclass(frozen=True)
class Access:
    """The roles a route lets in, and what everyone else gets."""

    allowed: frozenset[str]
    visitor: str = LOGIN
    others: str = FORBIDDEN

    def expected(self, role: str) -> str:
        if role in self.allowed:
            return ALLOWED
        return self.visitor if role == "visitor" else self.others


PUBLIC = Access(frozenset(ROLES))
SIGNED_IN = Access(SIGNED_IN_ROLES)
ADMINS = Access(frozenset({"admin"}))
MODERATORS = Access(frozenset({"moderator", "admin"}))
# For objects that are not the member's own: those outside never learn they exist.
STAFF_ELSE_404 = Access(frozenset({"moderator", "admin"}), others=NOT_FOUND)
ADMINS_ELSE_404 = Access(frozenset({"admin"}), others=NOT_FOUND)
NOBODY_ELSE_404 = Access(frozenset(), others=NOT_FOUND)

# Builds the real objects a route's URL names and returns the URL's values.
# It gets the factories, the signed-in member (None for a visitor) and
# another member who owns what is not the visitor's.
Values = Callable[[Factories, Member | None, Member], dict[str, Any]]


def _no_values(factories, me, someone_else) -> dict[str, Any]:
    return {}


def _static_file(factories, me, someone_else) -> dict[str, Any]:
    return {"filename": "css/tessera.css"}


def _company(factories, me, someone_else) -> dict[str, Any]:
    return {"company_id": factories.make_contact().company.id}


def _active_contact(factories, me, someone_else) -> dict[str, Any]:
    return {"contact_id": factories.make_contact(owner_id=someone_else.id).id}


def _own_file(factories, me, someone_else) -> dict[str, Any]:
    owner = me or someone_else
    return {"file_id": factories.make_contribution_file(owner).id}


def _own_job_run(factories, me, someone_else) -> dict[str, Any]:
    return {"run_id": factories.make_job_run(created_by=me or someone_else).id}


def _failed_job_run(factories, me, someone_else) -> dict[str, Any]:
    return {"run_id": factories.make_job_run(created_by=someone_else).id}


def _outbox_message(factories, me, someone_else) -> dict[str, Any]:
    return {"message_id": factories.make_outbox_message().id}


def _running_job_run(factories, me, someone_else) -> dict[str, Any]:
    run = factories.make_job_run(created_by=someone_else, state="running")
    return {"run_id": run.id}


def _verification_link(factories, me, someone_else) -> dict[str, Any]:
    member = factories.make_member(email_verified_at=None)
    session = factories.db.session
    token = start_email_verification(session, member, timedelta(hours=1), utcnow())
    session.commit()
    return {"token": token}


def _organisation(factories, me, someone_else) -> dict[str, Any]:
    organisation = Organisation(name="Northwind Traders")
    factories.db.session.add(organisation)
    factories.db.session.commit()
    return {"organisation_id": organisation.id}


def _draft_invoice(factories, me, someone_else) -> dict[str, Any]:
    session = factories.db.session
    invoice = create_invoice(
        session,
        lines=[LineInput("Points", 1, Decimal("50.00"), 500)],
        currency="EUR",
        rules=BillingRules(),
        now=utcnow(),
        member=someone_else,
    )
    session.commit()
    return {"invoice_id": invoice.id}


def _flag(factories, me, someone_else) -> dict[str, Any]:
    contact = factories.make_contact(owner_id=someone_else.id)
    flag = open_flag(
        factories.db.session,
        FlagKind.LEFT_COMPANY,
        FlagSource.MEMBER,
        utcnow(),
        FlagRules(),
        contact_id=contact.id,
        reporter_id=someone_else.id,
    )
    factories.db.session.commit()
    return {"flag_id": flag.id}


def _flag_action(factories, me, someone_else) -> dict[str, Any]:
    return {**_flag(factories, me, someone_else), "action": "dismiss"}


@dataclass(frozen=True)
class Route:
    """An endpoint's access for each method it accepts."""

    methods: dict[str, Access]
    values: Values = _no_values


def _everyone(*methods: str, values: Values = _no_values) -> Route:
    return Route(dict.fromkeys(methods, PUBLIC), values)


def _signed_in(*methods: str, values: Values = _no_values) -> Route:
    return Route(dict.fromkeys(methods, SIGNED_IN), values)


def _admins(*methods: str, values: Values = _no_values) -> Route:
    return Route(dict.fromkeys(methods, ADMINS), values)


def _moderators(*methods: str, values: Values = _no_values) -> Route:
    return Route(dict.fromkeys(methods, MODERATORS), values)


# Every endpoint of the app. Logged-in members opening the login and
# registration pages are sent home: still allowed.
ACCESS: dict[str, Route] = {
    "static": _everyone("GET", values=_static_file),
    "main.home": _everyone("GET"),
    "main.healthz": _everyone("GET"),
    "auth.login": _everyone("GET", "POST"),
    "auth.register": _everyone("GET", "POST"),
    "auth.logout": _signed_in("POST"),
    "account.profile": _signed_in("GET", "POST"),
    "account.change_password": _signed_in("POST"),
    "search.search": _signed_in("GET"),
    "companies.index": _signed_in("GET"),
    "companies.detail": _signed_in("GET", values=_company),
    "contacts.new": _signed_in("GET", "POST"),
    "contacts.company_suggestions": _signed_in("GET"),
    "contacts.duplicate_warning": _signed_in("GET"),
    "contacts.detail": _signed_in("GET", values=_active_contact),
    "contacts.unlock": _signed_in("POST", values=_active_contact),
    "contacts.confirm": _signed_in("POST", values=_active_contact),
    "contacts.challenge": _signed_in("POST", values=_active_contact),
    "contacts.update": _signed_in("GET", "POST", values=_active_contact),
    "contacts.import_file": _signed_in("GET", "POST"),
    "contacts.import_status": _signed_in("GET", values=_own_file),
    "contacts.import_report": _signed_in("GET", values=_own_file),
    "jobs.status": _signed_in("GET", values=_own_job_run),
    "my.contacts": _signed_in("GET"),
    "my.export": _signed_in("GET"),
    "points.overview": _signed_in("GET"),
    "admin.dashboard": _admins("GET"),
    "admin.generate_demo_data": _admins("POST"),
    "admin.jobs": _admins("GET"),
    "admin.retry_job": _admins("POST", values=_failed_job_run),
    "admin.outbox": _admins("GET"),
    "admin.outbox_message": _admins("GET", values=_outbox_message),
    "admin.audit": _admins("GET"),
    "admin.export_audit": _admins("GET"),
    "admin.cancel_job": _admins("POST", values=_running_job_run),
    "admin.start_quality_sweep": _admins("POST"),
    # A verification link works for whoever holds it, signed in or not.
    "auth.verify_email": _everyone("GET", values=_verification_link),
    # Confirming sends a signed-in member home and a visitor on to log in.
    "auth.confirm_email": Route(
        {"POST": Access(SIGNED_IN_ROLES, visitor=LOGIN)}, _verification_link
    ),
    "auth.resend_verification": _signed_in("POST"),
    "billing.invoices": _admins("GET"),
    "billing.new_invoice": _admins("GET"),
    "billing.create_invoice": _admins("POST"),
    "billing.invoice": _admins("GET", values=_draft_invoice),
    "billing.issue_invoice": _admins("POST", values=_draft_invoice),
    "billing.pay_invoice": _admins("POST", values=_draft_invoice),
    "billing.void_invoice": _admins("POST", values=_draft_invoice),
    "billing.plans": _admins("GET"),
    "billing.plan": _admins("GET", values=_organisation),
    "billing.change_organisation_plan": _admins("POST", values=_organisation),
    "moderation.queue": _moderators("GET"),
    "moderation.counters": _moderators("GET"),
    "moderation.bulk": _moderators("POST"),
    "moderation.item": _moderators("GET", values=_flag),
    "moderation.claim": _moderators("POST", values=_flag),
    "moderation.release": _moderators("POST", values=_flag),
    "moderation.act": _moderators("POST", values=_flag_action),
}


def _held_contact(owner: str) -> Values:
    def build(factories, me, someone_else) -> dict[str, Any]:
        holder = me if owner == "own" and me is not None else someone_else
        contact = factories.make_contact(state=ContactState.HELD, owner_id=holder.id)
        return {"contact_id": contact.id}

    return build


def _graveyard_contact(factories, me, someone_else) -> dict[str, Any]:
    contact = factories.make_contact(
        state=ContactState.GRAVEYARD, owner_id=(me or someone_else).id
    )
    return {"contact_id": contact.id}


def _others_file(factories, me, someone_else) -> dict[str, Any]:
    return {"file_id": factories.make_contribution_file(someone_else).id}


def _others_job_run(factories, me, someone_else) -> dict[str, Any]:
    return {"run_id": factories.make_job_run(created_by=someone_else).id}


_CONTACT_ACTIONS = [
    ("contacts.detail", "GET"),
    ("contacts.unlock", "POST"),
    ("contacts.confirm", "POST"),
    ("contacts.challenge", "POST"),
    ("contacts.update", "GET"),
    ("contacts.update", "POST"),
]

# Objects that belong to someone: (endpoint, method) -> access, for each case.
OWNERSHIP: dict[str, tuple[Values, dict[tuple[str, str], Access]]] = {
    "another member's held contact": (
        _held_contact("other"),
        dict.fromkeys(_CONTACT_ACTIONS, STAFF_ELSE_404),
    ),
    "own held contact": (
        _held_contact("own"),
        dict.fromkeys(_CONTACT_ACTIONS, SIGNED_IN),
    ),
    "a graveyard contact": (
        _graveyard_contact,
        dict.fromkeys(
            [("contacts.update", "GET"), ("contacts.update", "POST")], NOBODY_ELSE_404
        ),
    ),
    "another member's contribution file": (
        _others_file,
        {
            ("contacts.import_status", "GET"): ADMINS_ELSE_404,
            ("contacts.import_report", "GET"): ADMINS_ELSE_404,
        },
    ),
    "another member's job run": (
        _others_job_run,
        {("jobs.status", "GET"): ADMINS_ELSE_404},
    ),
}


def _app_routes() -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) for every route of a freshly built app."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                # Never connected to: only the URL map is read.
                "REDIS_URL": "redis://127.0.0.1:1/0",
                "INSTANCE_PATH": instance,
            }
        )
        return sorted(
            (rule.endpoint, method, rule.rule)
            for rule in app.url_map.iter_rules()
            for method in (rule.methods or set()) - AUTOMATIC_METHODS
        )


APP_ROUTES = _app_routes()


def _sign_in(factories: Factories, auth, role: str) -> Member | None:
    if role == "visitor":
        return None
    member = factories.make_member(email=f"{role}@northwind.example", role=role)
    auth.login(member.email)
    return member


def _request(client, app: Flask, method: str, endpoint: str, values: dict, **headers):
    with app.test_request_context():
        url = url_for(endpoint, **values)
    if method == "GET":
        response = client.get(url, headers=headers)
        response.close()  # static files stream from an open file
        return response
    # A real form post carries the session's CSRF token, so the answer is the
    # access check's, not the CSRF check's. The login form has one for
    # visitors; signed-in members are sent home from it, where the logout
    # form has one.
    page = client.get("/auth/login", follow_redirects=True)
    token = csrf_token_from(page.get_data(as_text=True))
    return client.open(url, method=method, data={"csrf_token": token}, headers=headers)


def _outcome(response) -> str:
    status = response.status_code
    if status in (301, 302, 303):
        location = urlsplit(response.headers["Location"]).path
        if location == "/auth/login":
            return LOGIN
    named = {401: UNAUTHORISED, 403: FORBIDDEN, 404: NOT_FOUND, 405: NOT_ALLOWED}
    if status in named:
        return named[status]
    if status in VIEW_STATUSES:
        return ALLOWED
    return f"an unexpected {status}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("endpoint", "method", "rule"),
    APP_ROUTES,
    ids=[f"{endpoint}-{method}" for endpoint, method, _ in APP_ROUTES],
)
def test_access_matrix(app, client, auth, factories, endpoint, method, rule, role):
    """Every route answers each role as declared: in, to login, 403 or 404."""
    route = ACCESS.get(endpoint)
    if route is None or method not in route.methods:
        pytest.fail(
            f"{method} {rule} (endpoint {endpoint!r}) has no declared access: "
            "add it to ACCESS in tests/web/test_access.py"
        )
    me = _sign_in(factories, auth, role)
    someone_else = factories.make_member(email="owner@northwind.example")
    values = route.values(factories, me, someone_else)
    response = _request(client, app, method, endpoint, values)
    expected = route.methods[method].expected(role)
    assert _outcome(response) == expected, (
        f"{role} {method} {rule}: expected {expected}, got {response.status_code}"
    )
    if expected == FORBIDDEN:
        assert "Not allowed" in response.get_data(as_text=True)


def test_access_declarations_match_the_app():
    """ACCESS declares no endpoint or method the app does not have."""
    served = {(endpoint, method) for endpoint, method, _ in APP_ROUTES}
    declared = {
        (endpoint, method)
        for endpoint, route in ACCESS.items()
        for method in route.methods
    }
    declared |= {key for _, accesses in OWNERSHIP.values() for key in accesses}
    assert declared - served == set(), "declared but not served by the app"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(OWNERSHIP))
def test_own_and_other_objects(app, client, auth, factories, case, role):
    """Objects that belong to someone open for their owner and staff as declared."""
    build, accesses = OWNERSHIP[case]
    me = _sign_in(factories, auth, role)
    someone_else = factories.make_member(email="owner@northwind.example")
    for (endpoint, method), access in accesses.items():
        response = _request(
            client, app, method, endpoint, build(factories, me, someone_else)
        )
        expected = access.expected(role)
        assert _outcome(response) == expected, (
            f"{role} {method} {endpoint} on {case}: expected {expected}, "
            f"got {response.status_code}"
        )


@pytest.mark.parametrize("role", ["visitor", "member"])
def test_methods_a_route_does_not_accept_get_405(app, client, auth, factories, role):
    """GET or POST on a path that does not take it is 405 for anyone."""
    _sign_in(factories, auth, role)
    accepted: dict[str, set[str]] = {}
    samples: dict[str, str] = {}
    for rule in app.url_map.iter_rules():
        accepted.setdefault(rule.rule, set()).update(rule.methods or ())
        # 1 fits ids and strings alike; only static files take a path.
        arguments = {
            name: "css/tessera.css" if name == "filename" else 1
            for name in rule.arguments
        }
        samples[rule.rule] = rule.build(arguments)[1]
    for rule, methods in accepted.items():
        for method in {"GET", "POST"} - methods:
            response = client.open(samples[rule], method=method)
            assert response.status_code == 405, f"{role} {method} {rule}"


# The admin area: its own blueprint and billing's, both behind admin_required.
ADMIN_ROUTES = [
    route for route in APP_ROUTES if route[0].split(".")[0] in {"admin", "billing"}
]


@pytest.mark.parametrize(
    ("endpoint", "method", "rule"),
    ADMIN_ROUTES,
    ids=[f"{endpoint}-{method}" for endpoint, method, _ in ADMIN_ROUTES],
)
def test_admin_area_answers_scripts_without_redirects(
    app, client, auth, factories, endpoint, method, rule
):
    """The admin area's one decorator: htmx and JSON callers get a status they
    can act on (401 signed out, 403 signed in), never a login page."""
    someone_else = factories.make_member(email="owner@northwind.example")
    values = ACCESS[endpoint].values(factories, None, someone_else)
    for headers in ({"HX-Request": "true"}, {"Accept": "application/json"}):
        response = _request(client, app, method, endpoint, values, **headers)
        assert response.status_code == 401, f"visitor {method} {rule} {headers}"
    _sign_in(factories, auth, "moderator")
    for headers in ({"HX-Request": "true"}, {"Accept": "application/json"}):
        response = _request(client, app, method, endpoint, values, **headers)
        assert response.status_code == 403, f"moderator {method} {rule} {headers}"
    json_answer = _request(
        client, app, method, endpoint, values, Accept="application/json"
    )
    assert json_answer.get_json()["error"] == "Not allowed"


def test_anonymous_htmx_request_gets_401_not_redirect(client):
    """htmx cannot follow a login redirect into a fragment: it gets 401."""
    response = client.get("/admin", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Retarget"] == "#messages"


@pytest.mark.parametrize("role", ["member", "org_admin", "moderator"])
def test_non_admins_cannot_start_admin_jobs(client, auth, make_member, db, role):
    """The demo-data job cannot be started by anyone but an admin."""
    make_member(email=f"{role}@northwind.example", role=role)
    auth.login(f"{role}@northwind.example")
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    response = client.post(
        "/admin/demo-data", data={"contacts": "10", "seed": "3", "csrf_token": token}
    )
    assert response.status_code == 403
    assert db.session.scalar(select(JobRun)) is None


def test_admin_navigation_only_for_admins(client, auth, make_member):
    """The Admin link shows for admins and not for moderators."""
    make_member(email="mod@northwind.example", role="moderator")
    make_member(email="adm@northwind.example", role="admin")
    auth.login("mod@northwind.example")
    assert 'href="/admin"' not in client.get("/").get_data(as_text=True)
    auth.logout()
    auth.login("adm@northwind.example")
    assert 'href="/admin"' in client.get("/").get_data(as_text=True)
