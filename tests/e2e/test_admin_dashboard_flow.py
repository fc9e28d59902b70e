"""An admin reads the dashboard, changes its range, and filters the audit log,
on a desktop and a phone-sized screen."""

from __future__ import annotations

import re

import pytest
import time_machine
from playwright.sync_api import Page, expect

from portal.audit import record_audit
from tests.dashboard_data import NOW, plant

pytestmark = pytest.mark.e2e

WIDTHS = (1280, 390)


def no_sideways_scroll(page: Page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


@pytest.fixture
def app_config(app_config):
    """The server's clock is set back to the planted data's "now": keep its
    session cookie alive in the browser, whose clock is not."""
    return {**app_config, "PERMANENT_SESSION_LIFETIME": 3 * 365 * 86400}


@pytest.fixture
def planted(db, make_member, make_contact):
    with time_machine.travel(NOW, tick=True):
        data = plant(db, make_member, make_contact)
        admin = data.members["admin"]
        for n in range(3):
            record_audit(
                "job.retried", actor=admin, target=admin, details={"n": n}, ip="::1"
            )
        record_audit("member.suspended", actor=None, target=data.members["m4"])
        db.session.commit()
        yield data


@pytest.mark.parametrize("width", WIDTHS)
def test_dashboard_range_and_audit_filter(
    page: Page, live_server: str, planted, artifacts_dir, width
):
    """The charts render without CSP errors; a preset swaps the figures in
    and pushes the URL; the audit log filters by action as the select changes;
    nothing scrolls sideways."""
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server}/auth/login")
    page.get_by_label("Email").fill("admin@northwind.example")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    if width < 1024:
        # Narrow screens keep the links, "Log out" too, behind the menu.
        page.locator(".nav-menu").get_by_text("Menu").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.goto(f"{live_server}/admin")
    expect(page.locator("#chart-points svg")).to_be_visible()
    expect(page.locator(".range-note")).to_contain_text("19 May 2026 to 17 Jun 2026")
    page.get_by_role("link", name="Last 7 days").click()
    expect(page.locator(".range-note")).to_contain_text("11 Jun 2026 to 17 Jun 2026")
    expect(page).to_have_url(re.compile(r"/admin\?start=2026-06-11&end=2026-06-17$"))
    page.locator("#chart-activity summary").click()
    expect(page.locator("#chart-activity table tbody tr")).to_have_count(7)
    assert no_sideways_scroll(page)
    page.screenshot(path=str(shots / f"dashboard-{width}.png"), full_page=True)

    page.goto(f"{live_server}/admin/audit")
    expect(page.locator("#audit-table")).to_contain_text("member.suspended")
    page.get_by_label("Action").select_option("job.retried")
    expect(page).to_have_url(re.compile(r"action=job\.retried"))
    expect(page.locator("#audit-table")).not_to_contain_text("member.suspended")
    expect(page.locator("#audit-table tbody tr")).to_have_count(3)
    assert no_sideways_scroll(page)
    page.screenshot(path=str(shots / f"audit-{width}.png"), full_page=True)
