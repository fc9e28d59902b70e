"""Integer ids in URLs: out-of-range values are 404, never a server error.

The routes are read from the app's URL map, so a new route with an integer
argument is covered without being listed here.
"""

from __future__ import annotations

import pytest
from flask import Flask

from portal.routing import MAX_ID
from tests.conftest import csrf_token_from

OUT_OF_RANGE = [
    "99999999999999999999",
    str(MAX_ID + 1),
    str(2**63),
    "1" + "0" * 40,
    "9" * 5000,
    "١٢",  # Arabic-Indic digits: Python's int() accepts them, URLs should not
]


def int_routes(app: Flask) -> list[tuple[str, str, tuple[str, ...]]]:
    """(rule, method, integer argument names) for every route taking an integer."""
    int_converter = app.url_map.converters["int"]
    routes = []
    for rule in app.url_map.iter_rules():
        names = tuple(
            name
            for name, converter in rule._converters.items()
            if isinstance(converter, int_converter)
        )
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            if names:
                routes.append((rule.rule, method, names))
    return routes


def _url(rule: str, names: tuple[str, ...], value: str) -> str:
    for name in names:
        rule = rule.replace(f"<int:{name}>", value)
    return rule


@pytest.fixture
def admin_client(app, client, auth, make_member):
    """A client logged in as an admin, who passes every role gate."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    make_member(email="root@northwind.example", role="admin")
    auth.login("root@northwind.example")
    return client


def test_the_url_map_has_the_routes_the_issue_names(app):
    """The generated list covers the routes the attack report named."""
    rules = {rule for rule, _, _ in int_routes(app)}
    assert {
        "/contacts/<int:contact_id>",
        "/companies/<int:company_id>",
        "/jobs/<int:run_id>",
        "/contacts/import/<int:file_id>",
        "/admin/outbox/<int:message_id>",
    } <= rules


def test_out_of_range_ids_are_404_on_every_int_route(app, admin_client):
    """Every integer route, every method, every out-of-range id: 404."""
    token = csrf_token_from(admin_client.get("/contacts/new").get_data(as_text=True))
    wrong = []
    for rule, method, names in int_routes(app):
        for value in OUT_OF_RANGE:
            url = _url(rule, names, value)
            response = admin_client.open(
                url, method=method, headers={"X-CSRFToken": token}
            )
            if response.status_code != 404:
                wrong.append(f"{method} {url[:60]} -> {response.status_code}")
    assert wrong == []


def test_largest_id_reaches_the_view_as_a_plain_miss(app, admin_client):
    """The largest id a column holds is still routed, and the view answers 404."""
    wrong = []
    for rule, method, names in int_routes(app):
        if method != "GET":
            continue
        response = admin_client.get(_url(rule, names, str(MAX_ID)))
        if response.status_code != 404:
            wrong.append(f"{rule} -> {response.status_code}")
    assert wrong == []


def test_ids_in_range_route_and_build_unchanged(app):
    """Ordinary ids match and build as before."""
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/contacts/42")[1] == {"contact_id": 42}
    assert adapter.build("contacts.detail", {"contact_id": MAX_ID}) == (
        f"/contacts/{MAX_ID}"
    )
