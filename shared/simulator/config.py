"""What a simulated shop looks like: one frozen, validated bundle of knobs.

Every random choice the simulator makes is derived from `seed`, so a config is also the
complete recipe for its data: two runs with equal configs produce identical tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

MIN_PRODUCTS = 30
"""Each of the ten categories needs at least three products to form a bundle."""


@dataclass(frozen=True)
class ShopConfig:
    """Size, calendar and behaviour of a simulated shop (defaults: a small UK shop, 4 weeks)."""

    seed: int = 7
    start: date = date(2026, 9, 1)
    days: int = 28
    products: int = 400
    customers: int = 2000
    sessions_per_day: float = 1500.0
    """Average over the period; weekends are busier and the shop grows slowly."""
    guest_share: float = 0.3
    """Share of sessions that never sign in (their events carry only a session_id)."""
    currency: str = "GBP"
    weekend_boost: float = 0.3
    """Saturdays and Sundays get this many more sessions than weekdays (0.3 = +30%)."""
    weekly_growth: float = 0.01
    """Traffic growth per week, centred on the middle of the period so the mean holds."""
    popularity_exponent: float = 1.1
    """Zipf exponent of product popularity; larger means a longer head."""
    bundle_affinity: float = 0.5
    """Chance that a cart gets a bundle sibling of one of its items added."""
    return_rate: float = 0.02
    """Share of sold lines returned 1-14 days later."""
    review_rate: float = 0.08
    """Share of signed-in customers' sold lines reviewed 1-14 days later."""
    late_signup_share: float = 0.1
    """Share of customers who sign up during the period rather than before it."""
    segment_change_share: float = 0.05
    """Share of customers whose segment changes during the period."""
    country_change_share: float = 0.01
    """Share of customers who move country during the period."""
    lapse_share: float = 0.0
    """Share of customers who stop visiting for good on a day during the period (the
    churn that predicted customer value should see)."""

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.start, date) or isinstance(self.start, datetime):
            raise ValueError(f"start must be a datetime.date (not a datetime), got {self.start!r}")
        _require_int(self, "days", 1)
        _require_int(self, "products", MIN_PRODUCTS)
        _require_int(self, "customers", 1)
        for name in (*_SHARES, *_NUMBERS):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if not self.sessions_per_day > 0:
            raise ValueError(f"sessions_per_day must be positive, got {self.sessions_per_day!r}")
        if not isinstance(self.currency, str) or not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError(f"currency must be an ISO 4217 code like 'GBP', got {self.currency!r}")
        for name in _SHARES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.weekend_boost <= -1.0:
            raise ValueError(f"weekend_boost must be above -1, got {self.weekend_boost!r}")
        if self.weekly_growth <= -1.0:
            raise ValueError(f"weekly_growth must be above -1, got {self.weekly_growth!r}")
        if self.popularity_exponent < 0:
            raise ValueError(
                f"popularity_exponent must be non-negative, got {self.popularity_exponent!r}"
            )


_SHARES = (
    "guest_share",
    "bundle_affinity",
    "return_rate",
    "review_rate",
    "late_signup_share",
    "segment_change_share",
    "country_change_share",
    "lapse_share",
)
_NUMBERS = ("sessions_per_day", "weekend_boost", "weekly_growth", "popularity_exponent")


def _require_int(config: ShopConfig, name: str, minimum: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
