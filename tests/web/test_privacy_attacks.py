"""Attacks on the privacy center's links: enumeration by answer or by time,
a poisoned Host header, and one link used from several browsers at once."""

from __future__ import annotations

import re
import statistics
import threading
import time

from sqlalchemy import func, select

from portal.models import PrivacyRequest, PrivacyRequestKind
from tests.conftest import csrf_token_from
from tests.privacy_helpers import ask_for_link, emailed_links

KNOWN = "ines.garcia@fabrikam-test.com"
# The page's CSRF token (in its forms and htmx headers) is signed with the time.
SIGNED = re.compile(r"[A-Za-z0-9_.-]{60,}")


def _known_contact(make_company, make_contact):
    company = make_company(name="Fabrikam", domain="fabrikam-test.com")
    return make_contact(company=company, first_name="Ines", email=KNOWN)


def test_poisoned_host_never_reaches_the_link(
    app, client, db, make_company, make_contact
):
    """The emailed link is on PUBLIC_URL whatever Host the request names."""
    _known_contact(make_company, make_contact)
    app.config["PUBLIC_URL"] = "https://privacy.tessera.example"
    response = ask_for_link(client, KNOWN, Host="evil.example")
    assert response.status_code == 200
    ((link, _),) = emailed_links(db, KNOWN)
    assert link.startswith("https://privacy.tessera.example/privacy/open/")


def test_known_and_unknown_take_the_same_time(
    app, client, db, make_company, make_contact
):
    """Over many interleaved tries, the median answer for a listed address is
    within a small tolerance of the median for an unlisted one."""
    _known_contact(make_company, make_contact)
    app.config["PRIVACY_LIMIT_PER_ADDRESS"] = "10000 per hour"
    app.config["PRIVACY_LIMIT_PER_IP"] = "10000 per hour"
    token = csrf_token_from(client.get("/privacy").get_data(as_text=True))
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    bodies: dict[str, set[str]] = {"known": set(), "unknown": set()}
    for attempt in range(60):
        for label, email in (
            ("known", KNOWN),
            ("unknown", f"nobody{attempt}@fabrikam-test.com"),
        ):
            started = time.perf_counter()
            response = client.post(
                "/privacy/access", data={"email": email, "csrf_token": token}
            )
            timings[label].append(time.perf_counter() - started)
            assert response.status_code == 200
            # The CSRF token is signed with the time: the rest must not vary.
            bodies[label].add(SIGNED.sub("", response.get_data(as_text=True)))
    assert bodies["known"] == bodies["unknown"] and len(bodies["known"]) == 1
    known = statistics.median(timings["known"][10:])
    unknown = statistics.median(timings["unknown"][10:])
    assert abs(known - unknown) <= max(0.25 * min(known, unknown), 0.004), (
        known,
        unknown,
    )


def test_one_link_in_several_browsers_opens_once(
    app, client, db, make_company, make_contact
):
    """Six browsers post the same link at once: exactly one gets the report."""
    _known_contact(make_company, make_contact)
    ask_for_link(client, KNOWN)
    ((_, token),) = emailed_links(db, KNOWN)
    path = f"/privacy/open/{token}"
    browsers = []
    for _ in range(6):
        browser = app.test_client()
        csrf = csrf_token_from(browser.get(path).get_data(as_text=True))
        browsers.append((browser, csrf))
    db.session.remove()
    start = threading.Barrier(len(browsers))
    statuses: list[int] = []
    reports: list[int] = []

    def use(browser, csrf) -> None:
        start.wait()
        statuses.append(browser.post(path, data={"csrf_token": csrf}).status_code)
        reports.append(browser.get("/privacy/report").status_code)

    threads = [threading.Thread(target=use, args=pair) for pair in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [303] + [410] * 5
    assert sorted(reports) == [200] + [401] * 5
    opened = db.session.scalar(
        select(func.count(PrivacyRequest.id)).where(
            PrivacyRequest.kind == PrivacyRequestKind.ACCESS
        )
    )
    assert opened == 1


def test_link_secrets_never_reach_the_request_log(app, caplog):
    """A request line with a privacy or remove-me link is logged redacted."""
    import logging

    secret = "AbCdEfGhIjKlMnOpQrStUv.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
    logger = logging.getLogger("werkzeug")
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logger.info(
            '%s - - [03/Dec/2026 04:00:00] "%s" %s %s',
            "127.0.0.1",
            f"GET /privacy/open/{secret} HTTP/1.1",
            "200",
            "-",
        )
        logger.info('"POST /privacy/remove/%s HTTP/1.1" 200', "signed.token.here")
    text = caplog.text
    assert secret not in text and "signed.token.here" not in text
    assert text.count("[redacted]") == 2
