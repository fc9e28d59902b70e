"""The admin dashboard page: charts with their numbers, and the date range."""

from __future__ import annotations

import re

import pytest
import time_machine

from tests.dashboard_data import NOW, plant


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def admin_client(client, auth, db, make_member, make_contact, frozen):
    plant(db, make_member, make_contact)
    auth.login("admin@northwind.example")
    return client


def table_rows(html: str, chart_id: str) -> list[list[str]]:
    """The cells of the table behind one chart, row by row."""
    figure = html.split(f'id="{chart_id}"', 1)[1].split("</figure>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", figure, re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


def test_dashboard_shows_each_chart_with_its_numbers(admin_client):
    """Every chart is an SVG with a table of the planted figures behind it."""
    html = admin_client.get("/admin?start=2026-06-08&end=2026-06-17").get_data(
        as_text=True
    )
    for chart in ("members", "contacts", "activity", "points", "backlog", "jobs"):
        assert f'id="chart-{chart}"' in html
    assert html.count("<svg") == 6
    assert table_rows(html, "chart-members")[1:] == [
        ["8 Jun 2026", "1", "2"],
        ["15 Jun 2026", "2", "2"],
    ]
    assert table_rows(html, "chart-contacts") == [
        ["active", "3"],
        ["held", "1"],
        ["disputed", "0"],
        ["graveyard", "2"],
    ]
    activity = {row[0]: row[1:] for row in table_rows(html, "chart-activity")[1:]}
    assert activity["9 Jun 2026"] == ["2", "0"]
    assert activity["17 Jun 2026"] == ["1", "2"]
    points = {row[0]: row[1:] for row in table_rows(html, "chart-points")[1:]}
    assert points["15 Jun 2026"] == ["20", "0", "5"]
    assert points["17 Jun 2026"] == ["5", "10", "10"]
    assert table_rows(html, "chart-backlog")[3] == ["7 to 14 days", "1"]
    assert table_rows(html, "chart-jobs") == [
        ["Queued", "2"],
        ["Running", "1"],
        ["Waiting to retry", "0"],
        ["Failed in range", "1"],
    ]
    assert "10 days" in html  # the oldest flag's age
    # Kept from before: the demo-data form and the recent jobs.
    assert 'id="demo-data-form"' in html and "Recent jobs" in html


def test_dashboard_needs_no_inline_script_or_style(admin_client):
    """The CSP forbids inline script and style: the page has neither."""
    html = admin_client.get("/admin").get_data(as_text=True)
    assert "style=" not in html
    assert "<style" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert re.search(r"\son[a-z]+=", html) is None


def test_default_range_is_the_last_30_days(admin_client):
    """Without a range the dashboard shows the 30 days up to today."""
    html = admin_client.get("/admin").get_data(as_text=True)
    assert "19 May 2026 to 17 Jun 2026" in html
    assert len(table_rows(html, "chart-activity")) == 31  # heading + 30 days


def test_htmx_range_change_returns_the_figures_only(admin_client):
    """An htmx request gets the figures fragment for the new range, not the page."""
    response = admin_client.get(
        "/admin?start=2026-06-15&end=2026-06-17", headers={"HX-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<div id="dashboard-figures">')
    assert "<h1>" not in html and "demo-data-form" not in html
    assert len(table_rows(html, "chart-activity")) == 4


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-06-10&end=2026-06-01", "Start on or before the end."),
        ("end=2026-06-18", "Choose a day no later than today."),
        ("start=2024-01-01&end=2026-06-17", "Choose a range of at most 366 days."),
        ("start=yesterday", "Not a valid date value."),
    ],
)
def test_bad_range_is_explained_and_the_default_shown(admin_client, query, message):
    """A range that cannot be shown says why and falls back to the last 30 days."""
    response = admin_client.get(f"/admin?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in html
    assert "19 May 2026 to 17 Jun 2026" in html


def test_preset_links_carry_the_range_in_the_url(admin_client):
    """The preset links are plain links (work without JS) that htmx pushes."""
    html = admin_client.get("/admin").get_data(as_text=True)
    assert 'href="/admin?start=2026-06-11&amp;end=2026-06-17"' in html
    assert 'hx-push-url="true"' in html


def test_figures_are_the_same_after_the_roll_up(admin_client, db):
    """The page reads rolled-up days after the job ran and shows the same numbers."""
    from portal.admin import metrics

    url = "/admin?start=2026-06-08&end=2026-06-17"
    before = admin_client.get(url).get_data(as_text=True)
    metrics.roll_up_daily_metrics(db.session, NOW, refresh_days=30)
    db.session.commit()
    after = admin_client.get(url).get_data(as_text=True)
    assert "come from the daily roll-up" in after
    for chart in ("chart-members", "chart-activity", "chart-points"):
        assert table_rows(after, chart) == table_rows(before, chart)
