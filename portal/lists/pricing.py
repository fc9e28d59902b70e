"""The quote for a matched list: per delivered record, by volume tier.

A delivered record is a matched (or moved) row where we add or update at
least one compared field; rows fully in sync cost nothing. The first 1,000
records cost 0.50 each, the next 9,000 0.30, the rest 0.20 (``LIST_PRICE_TIERS``),
in the organisation's currency. The quote says per field how many values we
add and update, and is valid ``LIST_QUOTE_VALID_DAYS`` days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from portal.matching.batch import COMPARED_FIELDS, FieldStatus, MatchStatus

CENT = Decimal("0.01")
FOUND = (MatchStatus.MATCHED.value, MatchStatus.MOVED.value)
CHANGED = (FieldStatus.ADDED.value, FieldStatus.DIFFERENT.value)


@dataclass(frozen=True)
class Tier:
    size: int | None  # None: every record left
    unit_price: Decimal


@dataclass(frozen=True)
class ListRules:
    tiers: tuple[Tier, ...] = (
        Tier(1000, Decimal("0.50")),
        Tier(9000, Decimal("0.30")),
        Tier(None, Decimal("0.20")),
    )
    quote_valid_days: int = 14
    max_rows: int = 100_000
    max_bytes: int = 20 * 1024 * 1024
    chunk_rows: int = 5000
    chunk_stale_seconds: int = 600

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ListRules:
        tiers = tuple(
            Tier(None if size is None else int(size), Decimal(str(price)))
            for size, price in config["LIST_PRICE_TIERS"]
        )
        return cls(
            tiers=tiers,
            quote_valid_days=int(config["LIST_QUOTE_VALID_DAYS"]),
            max_rows=int(config["LIST_MAX_ROWS"]),
            max_bytes=int(config["LIST_MAX_BYTES"]),
            chunk_rows=int(config["LIST_CHUNK_ROWS"]),
            chunk_stale_seconds=int(config["LIST_CHUNK_STALE_SECONDS"]),
        )


def is_delivered(status: str, fields: Mapping[str, str]) -> bool:
    """Whether a row is a delivered record: found, and something to add or update."""
    return status in FOUND and any(value in CHANGED for value in fields.values())


@dataclass
class Quote:
    records: int
    currency: str
    lines: list[dict[str, Any]]
    total: Decimal
    # field -> {"added": n, "updated": n} over the delivered records.
    per_field: dict[str, dict[str, int]] = field(default_factory=dict)
    expires_at: datetime | None = None


def tier_lines(records: int, tiers: Sequence[Tier]) -> list[dict[str, Any]]:
    """One line per tier the records reach: description, quantity, unit
    price, amount (text, two decimals)."""
    lines = []
    start, left = 1, records
    for tier in tiers:
        if left <= 0:
            break
        quantity = left if tier.size is None else min(left, tier.size)
        end = start + quantity - 1
        lines.append(
            {
                "description": f"Delivered records {start:,}-{end:,}",
                "quantity": quantity,
                "unit_price": str(tier.unit_price.quantize(CENT)),
                "amount": str((tier.unit_price * quantity).quantize(CENT)),
            }
        )
        start, left = end + 1, left - quantity
    return lines


def price_list(
    rows: Sequence[tuple[str, Mapping[str, str]]],
    *,
    currency: str,
    rules: ListRules,
    now: datetime,
) -> Quote:
    """The quote for rows given as (status, per-field statuses)."""
    per_field = {name: {"added": 0, "updated": 0} for name in COMPARED_FIELDS}
    records = 0
    for status, fields in rows:
        if not is_delivered(status, fields):
            continue
        records += 1
        for name, value in fields.items():
            if value == FieldStatus.ADDED.value:
                per_field[name]["added"] += 1
            elif value == FieldStatus.DIFFERENT.value:
                per_field[name]["updated"] += 1
    lines = tier_lines(records, rules.tiers)
    total = sum((Decimal(line["amount"]) for line in lines), Decimal("0.00"))
    return Quote(
        records=records,
        currency=currency,
        lines=lines,
        total=total.quantize(CENT),
        per_field=per_field,
        expires_at=now + timedelta(days=rules.quote_valid_days),
    )
