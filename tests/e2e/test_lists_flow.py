"""The enterprise list service in a real browser: upload, confirm the mapping,
watch the progress bar, read and filter the report, accept, download."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import log_in
from tests.lists_helpers import HUBSPOT, make_org_member, make_pool, read_csv_rows
from tests.workers import realprocess

pytestmark = pytest.mark.e2e


def _screenshots(page: Page, artifacts_dir, name: str) -> None:
    """The page at 1280 and 390 pixels wide, for a person to look at."""
    folder = artifacts_dir / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_upload_map_match_filter_accept_download(
    page: Page, live_server: str, app_config, factories, tmp_path, artifacts_dir
):
    """An org admin sends a HubSpot export and gets the merged file back."""
    make_pool(factories)
    admin = make_org_member(factories)
    source = tmp_path / "hubspot-export.csv"
    source.write_text(HUBSPOT, encoding="utf-8")
    log_in(page, live_server, admin.email)

    page.get_by_role("link", name="Lists").click()
    expect(page.get_by_role("heading", name="Upload a list")).to_be_visible()
    page.get_by_label("CSV or Excel file").set_input_files(str(source))
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_role("heading", name="Map the columns")).to_be_visible()
    expect(page.get_by_label("Company Name")).to_have_value("company")
    expect(page.get_by_label("Record ID")).to_have_value("record_id")
    _screenshots(page, artifacts_dir, "lists-mapping")
    page.get_by_role("button", name="Confirm and match").click()

    # No worker yet: the job waits, its progress bar polls.
    status = page.locator(".job-status")
    expect(status).to_contain_text("Queued")
    expect(status.locator("progress")).to_be_visible()
    worker = realprocess.start_worker(
        realprocess.process_env(app_config), tmp_path / "worker.log"
    )
    try:
        # The page reloads itself when the list is quoted.
        expect(page.get_by_text("Match rate")).to_be_visible()
        expect(page.locator("#list-statuses")).to_be_visible()
        expect(page.locator("#quote")).to_contain_text("1.00")
        expect(page.locator("#list-rows")).not_to_contain_text("+442079460958")
        _screenshots(page, artifacts_dir, "lists-report")

        page.get_by_role("link", name="Invalid", exact=True).click()
        expect(page).to_have_url(f"{page.url.split('?')[0]}?status=invalid")
        expect(page.locator("#list-rows tbody tr")).to_have_count(1)
        expect(page.locator("#list-rows")).to_contain_text("no name")
        page.go_back()
        expect(page.locator("#list-rows tbody tr")).to_have_count(5)

        page.get_by_role("button", name="Accept quote and deliver").click()
        download_link = page.get_by_role("button", name="Download the updated file")
        expect(download_link).to_be_visible()
    finally:
        realprocess.stop(worker)
    expect(page.locator("#list-rows")).to_contain_text("+442079460958")
    with page.expect_download() as download_info:
        download_link.click()
    download = download_info.value
    assert download.suggested_filename == "hubspot-export-tessera.csv"
    rows = read_csv_rows(download.path().read_bytes())
    assert rows[0][-3:] == ["tessera_status", "tessera_confidence", "tessera_changes"]
    assert rows[1][4] == "robert.whitfield@acme.com"

    page.get_by_role("link", name="All lists").click()
    expect(page.locator("table")).to_contain_text("hubspot-export.csv")
    expect(page.locator("table")).to_contain_text("delivered")
    _screenshots(page, artifacts_dir, "lists-index")
