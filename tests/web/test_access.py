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

from portal import create_app, tokens
from portal.auth.services import start_email_verification, start_password_reset
from portal.billing.invoices import LineInput, create_invoice, issue_invoice
from portal.billing.rules import BillingRules
from portal.models import (
    ContactState,
    FlagKind,
    FlagSource,
    JobRun,
    Member,
    Organisation,
    PrivacyRequestKind,
)
from portal.models.base import utcnow
from portal.moderation.flags import FlagRules, open_flag
from portal.org import services as org_services
from portal.privacy.actions import ACCESS_LINK, link_subject
from portal.privacy.letters import remove_me_token
from portal.privacy.requests import open_request
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
ORG_ADMINS = Access(frozenset({"org_admin", "admin"}))
MODERATORS = Access(frozenset({"moderator", "admin"}))
# For objects that are not the member's own: those outside never learn they exist.
STAFF_ELSE_404 = Access(frozenset({"moderator", "admin"}), others=NOT_FOUND)
ADMINS_ELSE_404 = Access(frozenset({"admin"}), others=NOT_FOUND)
NOBODY_ELSE_404 = Access(frozenset(), others=NOT_FOUND)
# The subject report: only a browser that used a privacy link gets in.
PRIVACY_SESSION = Access(frozenset(), visitor=UNAUTHORISED, others=UNAUTHORISED)

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


def _reset_link(factories, me, someone_else) -> dict[str, Any]:
    member = factories.make_member()
    session = factories.db.session
    _, token = start_password_reset(
        session, member.email, timedelta(minutes=30), utcnow()
    )
    session.commit()
    return {"token": token}


def _privacy_link(factories, me, someone_else) -> dict[str, Any]:
    contact = factories.make_contact()
    session = factories.db.session
    token = tokens.issue(
        session,
        ACCESS_LINK,
        link_subject(contact.email),
        timedelta(minutes=10),
        utcnow(),
    )
    session.commit()
    return {"token": token}


def _member(factories, me, someone_else) -> dict[str, Any]:
    return {"member_id": someone_else.id}


def _in_my_organisation(factories, me, someone_else) -> Organisation:
    """An organisation with the signed-in member (if any) and ``someone_else``."""
    organisation = Organisation(name="Contoso")
    session = factories.db.session
    session.add(organisation)
    session.flush()
    for member in (me, someone_else):
        if member is not None:
            member.organisation_id = organisation.id
    session.commit()
    return organisation


def _my_organisation(factories, me, someone_else) -> dict[str, Any]:
    _in_my_organisation(factories, me, someone_else)
    return {}


def _my_organisations_member(factories, me, someone_else) -> dict[str, Any]:
    _in_my_organisation(factories, me, someone_else)
    return {"member_id": someone_else.id}


def _my_organisations_invitation(factories, me, someone_else) -> dict[str, Any]:
    organisation = _in_my_organisation(factories, me, someone_else)
    session = factories.db.session
    invitation, _token = org_services.invite(
        session,
        organisation,
        "new@contoso.example",
        inviter=someone_else,
        lifetime=timedelta(days=7),
        now=utcnow(),
    )
    session.commit()
    return {"invitation_id": invitation.id}


def _my_organisations_invoice(factories, me, someone_else) -> dict[str, Any]:
    organisation = _in_my_organisation(factories, me, someone_else)
    return {
        "invoice_id": _invoice(factories, issued=True, organisation=organisation).id
    }


def _invitation_for_me(factories, me, someone_else) -> dict[str, Any]:
    """A link inviting the signed-in member (a visitor: someone else)."""
    organisation = Organisation(name="Fabrikam")
    session = factories.db.session
    session.add(organisation)
    session.flush()
    _invitation, token = org_services.invite(
        session,
        organisation,
        (me or someone_else).email,
        inviter=someone_else,
        lifetime=timedelta(days=7),
        now=utcnow(),
    )
    session.commit()
    return {"token": token}


def _remove_link(factories, me, someone_else) -> dict[str, Any]:
    return {"token": remove_me_token(factories.make_contact())}


def _contact_id(factories, me, someone_else) -> dict[str, Any]:
    return {"contact_id": factories.make_contact().id}


def _privacy_request(factories, me, someone_else) -> dict[str, Any]:
    session = factories.db.session
    request = open_request(
        session,
        PrivacyRequestKind.ERASE,
        "jane@northwind.example",
        key="k",
        now=utcnow(),
    )
    session.commit()
    return {"request_id": request.id}


def _organisation(factories, me, someone_else) -> dict[str, Any]:
    organisation = Organisation(name="Northwind Traders")
    factories.db.session.add(organisation)
    factories.db.session.commit()
    return {"organisation_id": organisation.id}


def _invoice(factories, *, issued: bool = False, **recipient):
    session = factories.db.session
    invoice = create_invoice(
        session,
        lines=[LineInput("Points", 1, Decimal("50.00"), 500)],
        currency="EUR",
        rules=BillingRules(),
        now=utcnow(),
        **recipient,
    )
    if issued:
        issue_invoice(session, invoice, now=utcnow(), rules=BillingRules())
    session.commit()
    return invoice


def _draft_invoice(factories, me, someone_else) -> dict[str, Any]:
    return {"invoice_id": _invoice(factories, member=someone_else).id}


def _org_list(factories, member: Member) -> dict[str, Any]:
    """A list (waiting for its mapping, with one row) of ``member``'s
    organisation, which is created when the member has none."""
    from flask import current_app

    from portal.lists import upload
    from portal.lists.pricing import ListRules
    from portal.models import MatchListRow

    session = factories.db.session
    if member.organisation_id is None:
        organisation = Organisation(name=f"Org of {member.email}")
        session.add(organisation)
        session.flush()
        member.organisation_id = organisation.id
    match_list = upload.accept_upload(
        session,
        member,
        filename="crm.csv",
        content=b"First Name,Last Name,Company\nAnn,Lee,Acme\n",
        rules=ListRules.from_config(current_app.config),
        root=current_app.config["INSTANCE_PATH"],
        now=utcnow(),
    )
    row = MatchListRow(
        list_id=match_list.id, position=0, row_number=2, status="not_found"
    )
    session.add(row)
    session.commit()
    return {"list_id": match_list.id, "row_id": row.id}


def _others_list(factories, me, someone_else) -> dict[str, Any]:
    return _org_list(factories, someone_else)


def _own_org_list(factories, me, someone_else) -> dict[str, Any]:
    return _org_list(factories, me or someone_else)


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


def _org_admins(*methods: str, values: Values = _no_values) -> Route:
    return Route(dict.fromkeys(methods, ORG_ADMINS), values)


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
    "search.reveal_row": _signed_in("POST", values=_active_contact),
    "search.reveal_selected": _signed_in("POST"),
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
    "my.export_xlsx": _signed_in("GET"),
    "my.export_selected": _signed_in("POST"),
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
    "org.overview": _org_admins("GET", values=_my_organisation),
    "org.invite": _org_admins("POST", values=_my_organisation),
    "org.revoke_invitation": _org_admins("POST", values=_my_organisations_invitation),
    "org.remove_member": _org_admins("POST", values=_my_organisations_member),
    "org.invoice": _org_admins("GET", values=_my_organisations_invoice),
    "org.join": _signed_in("GET", values=_invitation_for_me),
    "org.accept": _signed_in("POST", values=_invitation_for_me),
    "admin.organisations_list": _admins("GET"),
    "admin.create_organisation": _admins("POST"),
    "admin.organisation": _admins("GET", values=_organisation),
    "admin.rename_organisation": _admins("POST", values=_organisation),
    "admin.members_list": _admins("GET"),
    "admin.member": _admins("GET", values=_member),
    "admin.change_member_role": _admins("POST", values=_member),
    "admin.suspend_member": _admins("POST", values=_member),
    "admin.reinstate_member": _admins("POST", values=_member),
    "admin.adjust_member_points": _admins("POST", values=_member),
    "admin.start_quality_sweep": _admins("POST"),
    # A verification link works for whoever holds it, signed in or not.
    "auth.verify_email": _everyone("GET", values=_verification_link),
    # Confirming sends a signed-in member home and a visitor on to log in.
    "auth.confirm_email": Route(
        {"POST": Access(SIGNED_IN_ROLES, visitor=LOGIN)}, _verification_link
    ),
    "auth.resend_verification": _signed_in("POST"),
    # Asking is open to all (signed-in members are sent to their profile);
    # a reset link works for whoever holds it.
    "auth.forgot_password": _everyone("GET", "POST"),
    "auth.reset_password": _everyone("GET", "POST", values=_reset_link),
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
    "lists.index": _signed_in("GET", "POST"),
    "lists.change_pooling": Route({"POST": Access(frozenset({"org_admin", "admin"}))}),
    # Another organisation's list: nobody outside it learns it exists.
    "lists.report": Route({"GET": NOBODY_ELSE_404}, _others_list),
    "lists.mapping": Route(
        {"GET": NOBODY_ELSE_404, "POST": NOBODY_ELSE_404}, _others_list
    ),
    "lists.progress": Route({"GET": NOBODY_ELSE_404}, _others_list),
    "lists.accept": Route({"POST": NOBODY_ELSE_404}, _others_list),
    "lists.requote": Route({"POST": NOBODY_ELSE_404}, _others_list),
    "lists.retry": Route({"POST": NOBODY_ELSE_404}, _others_list),
    "lists.dispute": Route({"POST": NOBODY_ELSE_404}, _others_list),
    "lists.download": Route({"GET": NOBODY_ELSE_404}, _others_list),
    "lists.changes": Route({"GET": NOBODY_ELSE_404}, _others_list),
    "lists.delete": Route({"POST": NOBODY_ELSE_404}, _others_list),
    "lists.schedule": Route({"POST": NOBODY_ELSE_404}, _others_list),
    # The privacy center: public pages, the emailed link (whoever holds it),
    # and the report, which only the link's session opens (401 otherwise).
    "privacy.index": _everyone("GET"),
    "privacy.request_access": _everyone("POST"),
    "privacy.open_link": _everyone("GET", values=_privacy_link),
    "privacy.use_link": _everyone("POST", values=_privacy_link),
    "privacy.report": Route({"GET": PRIVACY_SESSION}),
    "privacy.download": Route({"GET": PRIVACY_SESSION}),
    "privacy.confirm": Route({"POST": PRIVACY_SESSION}, _contact_id),
    "privacy.correct": Route({"POST": PRIVACY_SESSION}, _contact_id),
    "privacy.dispute": Route({"POST": PRIVACY_SESSION}, _contact_id),
    "privacy.erase": Route({"POST": PRIVACY_SESSION}, _contact_id),
    "privacy.end": _everyone("POST"),
    "privacy.remove_me": _everyone("GET", values=_remove_link),
    "privacy.remove_me_confirmed": _everyone("POST", values=_remove_link),
    "privacy_admin.privacy_requests": _admins("GET"),
    "privacy_admin.complete_privacy_request": _admins("POST", values=_privacy_request),
    "privacy_admin.deny_privacy_request": _admins("POST", values=_privacy_request),
    "privacy_admin.suppressions": _admins("GET"),
    "privacy_admin.upload_suppressions": _admins("POST"),
    "consent.consent_page": _signed_in("GET", "POST"),
    "consent.export": _signed_in("GET"),
    # Without the password it re-renders with the error (422).
    "consent.delete_account": _signed_in("POST"),
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
    # Every member of the organisation works with its lists; only its admins
    # accept quotes. A list not yet delivered has nothing to download.
    "own organisation's list": (
        _own_org_list,
        {
            ("lists.report", "GET"): SIGNED_IN,
            ("lists.mapping", "GET"): SIGNED_IN,
            ("lists.mapping", "POST"): SIGNED_IN,
            ("lists.progress", "GET"): SIGNED_IN,
            ("lists.accept", "POST"): Access(frozenset({"org_admin", "admin"})),
            ("lists.requote", "POST"): SIGNED_IN,
            ("lists.retry", "POST"): SIGNED_IN,
            ("lists.dispute", "POST"): SIGNED_IN,
            ("lists.download", "GET"): NOBODY_ELSE_404,
            ("lists.changes", "GET"): NOBODY_ELSE_404,
            ("lists.delete", "POST"): SIGNED_IN,
            ("lists.schedule", "POST"): Access(frozenset({"org_admin", "admin"})),
        },
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
    route
    for route in APP_ROUTES
    if route[0].split(".")[0] in {"admin", "billing", "privacy_admin"}
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
