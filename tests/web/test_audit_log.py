"""The audit log page: filters, pages, htmx, and the formula-safe CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import func, select

from portal.audit import record_audit
from portal.models import AuditEntry

NOW = datetime(2026, 6, 17, 12, 0, tzinfo=UTC)


@pytest.fixture
def admin(client, auth, db, make_member):
    with time_machine.travel(NOW, tick=False):
        admin = make_member(email="admin@northwind.example", role="admin")
        auth.login("admin@northwind.example")
        yield admin


def entry(db, action, actor, when, target=None, details=None, ip="203.0.113.9"):
    with time_machine.travel(when, tick=False):
        record_audit(action, actor=actor, target=target, details=details, ip=ip)
    db.session.commit()


@pytest.fixture
def log(db, admin, make_member):
    """Four entries by two actors and the system, over three days."""
    moderator = make_member(email="mod@northwind.example", role="moderator")
    entry(db, "job.retried", admin, datetime(2026, 6, 10, 9, tzinfo=UTC), moderator)
    entry(
        db, "member.suspended", moderator, datetime(2026, 6, 12, 9, tzinfo=UTC), admin
    )
    entry(
        db,
        "demo_data.requested",
        admin,
        datetime(2026, 6, 15, 9, tzinfo=UTC),
        details={"note": '=HYPERLINK("http://evil.example")'},
    )
    entry(db, "points.vested", None, datetime(2026, 6, 16, 9, tzinfo=UTC))
    return {"admin": admin, "moderator": moderator}


def actions_shown(html: str) -> list[str]:
    return [
        action
        for action in (
            "job.retried",
            "member.suspended",
            "demo_data.requested",
            "points.vested",
        )
        if f"<code>{action}</code>" in html
    ]


def test_audit_log_lists_newest_first(client, db, log):
    """Every entry is listed, newest first, with actor, target and IP."""
    html = client.get("/admin/audit").get_data(as_text=True)
    assert actions_shown(html) == [
        "job.retried",
        "member.suspended",
        "demo_data.requested",
        "points.vested",
    ]
    assert html.index("<code>points.vested") < html.index("<code>job.retried")
    total = db.session.scalar(select(func.count()).select_from(AuditEntry))
    assert total == 5  # the four planted, and the admin's log-in
    assert "5 entries" in html
    assert "203.0.113.9" in html and "members " in html
    assert "Not a valid" not in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("actor=MOD@north", ["member.suspended"]),
        ("actor=system", ["points.vested"]),
        ("action=job.retried", ["job.retried"]),
        ("target_type=members", ["job.retried", "member.suspended"]),
        (
            "start=2026-06-12&end=2026-06-15",
            ["member.suspended", "demo_data.requested"],
        ),
        ("actor=%25", []),  # a LIKE wildcard is matched literally
        (
            "action=&target_type=&actor=",
            ["job.retried", "member.suspended", "demo_data.requested", "points.vested"],
        ),
    ],
)
def test_audit_filters(client, log, query, expected):
    """Actor (part of the email, any case), action, target and dates narrow it."""
    html = client.get(f"/admin/audit?{query}").get_data(as_text=True)
    assert actions_shown(html) == expected
    assert "Not a valid" not in html


def test_unknown_action_is_refused_with_a_message(client, log):
    """An action that is not in the log says so and is not applied."""
    html = client.get("/admin/audit?action=nope").get_data(as_text=True)
    assert "Not a valid choice." in html
    assert len(actions_shown(html)) == 4


def test_audit_filter_by_target_id(client, log):
    """A target type and id find the entries about one object."""
    moderator = log["moderator"]
    html = client.get(
        f"/admin/audit?target_type=members&target_id={moderator.id}"
    ).get_data(as_text=True)
    assert actions_shown(html) == ["job.retried"]


def test_audit_dates_in_the_wrong_order_are_explained(client, log):
    """An end before the start says so; that end is left out, the start kept."""
    html = client.get("/admin/audit?start=2026-06-15&end=2026-06-12").get_data(
        as_text=True
    )
    assert "End on or after the start." in html
    assert actions_shown(html) == ["demo_data.requested", "points.vested"]


def test_audit_htmx_filter_returns_the_table_only(client, log):
    """htmx gets the table fragment for the filter (the form pushes the URL)."""
    response = client.get(
        "/admin/audit?action=points.vested", headers={"HX-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="audit-table">')
    assert actions_shown(html) == ["points.vested"]
    page = client.get("/admin/audit").get_data(as_text=True)
    assert 'hx-push-url="true"' in page and 'hx-target="#audit-table"' in page


def test_audit_is_paginated(app, client, db, admin):
    """More entries than a page holds spread over pages, filters kept in links."""
    for n in range(app.config["PAGE_SIZE"] + 3):
        entry(db, "job.retried", admin, datetime(2026, 6, 1, 9, n, tzinfo=UTC))
    first = client.get("/admin/audit?action=job.retried").get_data(as_text=True)
    assert "Page 1 of 2" in first
    assert "/admin/audit?page=2&amp;action=job.retried" in first
    second = client.get("/admin/audit?action=job.retried&page=2").get_data(as_text=True)
    assert second.count("<code>job.retried</code>") == 3


def test_audit_export_is_filtered_and_formula_escaped(client, db, log):
    """The CSV holds the filtered entries; a cell a spreadsheet would run as a
    formula starts with an apostrophe, actor labels included."""
    hostile = AuditEntry(
        actor_label="=cmd|' /C calc'!A0",
        action="member.suspended",
        details={},
    )
    db.session.add(hostile)
    db.session.commit()
    response = client.get("/admin/audit/export?action=member.suspended")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == [
        "when",
        "actor",
        "action",
        "target_type",
        "target_id",
        "ip",
        "details",
    ]
    assert sorted(row[1] for row in rows[1:]) == [
        "'=cmd|' /C calc'!A0",
        "mod@northwind.example",
    ]
    everything = client.get("/admin/audit/export").get_data(as_text=True)
    details = [row[6] for row in csv.reader(io.StringIO(everything))]
    assert '{"note": "=HYPERLINK(\\"http://evil.example\\")"}' in details


def test_audit_details_cell_starting_with_a_formula_is_escaped(client, db, admin):
    """Details are JSON (they start with a brace); an action or target id that
    starts with = or @ is escaped like any other cell."""
    db.session.add(
        AuditEntry(
            actor_label="system",
            action="@SUM(1+1)",
            target_type="members",
            target_id="=1+1",
            details={},
        )
    )
    db.session.commit()
    rows = list(
        csv.reader(
            io.StringIO(client.get("/admin/audit/export").get_data(as_text=True))
        )
    )
    assert rows[1][2:5] == ["'@SUM(1+1)", "members", "'=1+1"]


@pytest.mark.parametrize("role", ["member", "org_admin", "moderator"])
def test_only_admins_can_export_the_audit_log(client, auth, make_member, role):
    """Anyone but an admin is refused the export."""
    make_member(email=f"{role}@northwind.example", role=role)
    auth.login(f"{role}@northwind.example")
    assert client.get("/admin/audit/export").status_code == 403
