"""The list quote: tiers at their edges, only delivered records priced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from portal.lists.pricing import ListRules, Tier, is_delivered, price_list

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ADDS = {"email": "added", "phone": "missing"}


DEFAULT_RULES = ListRules()


def _quote(records: int, rules: ListRules = DEFAULT_RULES):
    return price_list(
        [("matched", ADDS)] * records, currency="EUR", rules=rules, now=NOW
    )


@pytest.mark.parametrize(
    ("records", "total"),
    [
        (0, "0.00"),
        (1, "0.50"),
        (1000, "500.00"),
        (1001, "500.30"),
        (10_000, "3200.00"),
        (10_001, "3200.20"),
        (12_345, "3669.00"),
    ],
)
def test_tiers_at_their_edges(records, total):
    """0.50 for the first 1,000, 0.30 for the next 9,000, 0.20 for the rest."""
    quote = _quote(records)
    assert quote.total == Decimal(total)
    assert quote.records == records
    assert sum(line["quantity"] for line in quote.lines) == records


def test_lines_say_which_records_each_tier_prices():
    """One line per tier reached, with its range, quantity and unit price."""
    lines = _quote(10_001).lines
    assert [(x["description"], x["quantity"], x["unit_price"]) for x in lines] == [
        ("Delivered records 1-1,000", 1000, "0.50"),
        ("Delivered records 1,001-10,000", 9000, "0.30"),
        ("Delivered records 10,001-10,001", 1, "0.20"),
    ]


def test_only_found_rows_with_something_new_are_delivered():
    """Rows in sync, possible, not found or invalid cost nothing."""
    assert is_delivered("matched", {"email": "different"})
    assert is_delivered("moved", {"phone": "added"})
    assert not is_delivered("matched", {"email": "same", "phone": "missing"})
    assert not is_delivered("possible", {"email": "added"})
    assert not is_delivered("not_found", {})
    rows = [
        ("matched", {"email": "same"}),
        ("possible", {"email": "added"}),
        ("matched", {"email": "added", "title": "different"}),
    ]
    quote = price_list(rows, currency="GBP", rules=ListRules(), now=NOW)
    assert (quote.records, quote.total, quote.currency) == (1, Decimal("0.50"), "GBP")
    assert quote.per_field["email"] == {"added": 1, "updated": 0}
    assert quote.per_field["title"] == {"added": 0, "updated": 1}


def test_tiers_and_validity_come_from_configuration():
    """Prices and the 14 days are configuration, not code."""
    rules = ListRules(tiers=(Tier(2, Decimal("1.00")), Tier(None, Decimal("0.10"))),
                      quote_valid_days=7)  # fmt: skip
    quote = _quote(5, rules)
    assert quote.total == Decimal("2.30")
    assert quote.expires_at == NOW + timedelta(days=7)
    assert _quote(1).expires_at == NOW + timedelta(days=14)
