"""A person listed in Tessera uses the privacy center in a real browser: asks
for access, follows the link from a real SMTP server, sees sources and
recipients, corrects a title and erases themselves; the member who revealed
them no longer has them."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Page, expect

from portal.disclosures import record_disclosures
from portal.models import DisclosureChannel, Unlock
from portal.models.base import utcnow
from tests.e2e.conftest import log_in
from tests.factories import PRIYA
from tests.privacy_helpers import contribute_as
from tests.processes import free_port

pytestmark = pytest.mark.e2e

WIDTHS = (1280, 390)


class Inbox:
    """An aiosmtpd handler that keeps the messages it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def inbox(app_config) -> Iterator[Inbox]:
    """A real SMTP server the app (and the live server) deliver to."""
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app_config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    yield handler
    controller.stop()


def _link_to(inbox: Inbox, address: str) -> str:
    (message,) = [m for m in inbox.messages if m["To"] == address]
    return re.search(r"http://\S+/privacy/open/\S+", message.get_content()).group(0)


def _screenshots(page: Page, folder: Path, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=folder / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_person_sees_corrects_and_erases_themselves(
    inbox,
    page: Page,
    browser: Browser,
    live_server: str,
    db,
    run_jobs,
    make_member,
    artifacts_dir,
):
    """Access by emailed link, sources and recipients, a correction, an
    erasure; the revealing member's My contacts no longer has the person."""
    contributor = make_member(email="contributor@northwind.example")
    contact = contribute_as(db, contributor).contact
    reader = make_member(email="reader@contoso.example")
    db.session.add(Unlock(member_id=reader.id, contact_id=contact.id, cost=10))
    record_disclosures(
        db.session, [contact.id], reader, DisclosureChannel.UNLOCK, utcnow()
    )
    db.session.commit()
    shots = artifacts_dir / "privacy"
    shots.mkdir(parents=True, exist_ok=True)

    page.goto(live_server)
    page.get_by_role("link", name="Privacy: see what we hold about you").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Your business contact details and Tessera"
    )
    _screenshots(page, shots, "privacy")
    page.get_by_label("Your business email address").fill(PRIYA["email"])
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")

    run_jobs()
    page.goto(_link_to(inbox, PRIYA["email"]))
    page.get_by_role("button", name="Show my data").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "What Tessera holds about you"
    )
    record = page.locator(f"#record-{contact.id}")
    expect(record).to_contain_text("VP Sales EMEA")
    expect(record).to_contain_text(
        f"Added by member {contributor.pseudonym} on the form"
    )
    expect(record).to_contain_text(f"member {reader.pseudonym} revealed it on")
    _screenshots(page, shots, "privacy-report")

    record.get_by_text("Correct a detail").click()
    record.get_by_label("Detail").select_option("title")
    record.get_by_label("Correct value").fill("Chief Revenue Officer")
    record.get_by_role("button", name="Correct it").click()
    expect(page.locator("#messages")).to_contain_text("Corrected.")
    expect(record).to_contain_text("Chief Revenue Officer")
    expect(record).to_contain_text("Corrected by you")

    record.get_by_text("Remove me").click()
    record.get_by_role("button", name="Delete my record").click()
    expect(page.locator("#messages")).to_contain_text("Your record is deleted")
    expect(page.locator("#privacy-report")).to_contain_text("We hold no record")

    run_jobs()
    told = [m["Subject"] for m in inbox.messages if m["To"] == reader.email]
    assert told == [
        "A contact you received from Tessera was corrected",
        "A person asked to be removed from Tessera",
    ]
    other = browser.new_context()
    try:
        reader_page = other.new_page()
        log_in(reader_page, live_server, reader.email)
        reader_page.goto(f"{live_server}/my/contacts")
        expect(reader_page.locator("main")).not_to_contain_text("Priya")
    finally:
        other.close()
