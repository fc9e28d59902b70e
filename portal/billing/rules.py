"""The billing numbers, from configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class BillingRules:
    pro_allowance_per_seat: int = 200
    purchased_points_expiry_days: int = 365
    default_currency: str = "EUR"
    invoice_number_prefix: str = "TSR"
    invoice_max_lines: int = 10
    invoice_max_total: Decimal = Decimal(1_000_000)
    invoice_max_points: int = 10_000_000
    max_seats: int = 10_000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BillingRules:
        return cls(
            pro_allowance_per_seat=int(config["PRO_ALLOWANCE_PER_SEAT"]),
            purchased_points_expiry_days=int(config["PURCHASED_POINTS_EXPIRY_DAYS"]),
            default_currency=str(config["DEFAULT_CURRENCY"]).upper(),
            invoice_number_prefix=str(config["INVOICE_NUMBER_PREFIX"]),
            invoice_max_lines=int(config["INVOICE_MAX_LINES"]),
            invoice_max_total=Decimal(config["INVOICE_MAX_TOTAL"]),
            invoice_max_points=int(config["INVOICE_MAX_POINTS"]),
            max_seats=int(config["MAX_SEATS"]),
        )
