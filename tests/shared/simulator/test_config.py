from __future__ import annotations

import dataclasses
from datetime import date, datetime

import pytest

from shared.simulator import ShopConfig
from shared.simulator.timing import traffic_factor


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"start": "2026-09-01"}, "start"),
        ({"start": datetime(2026, 9, 1)}, "start"),
        ({"days": 0}, "days"),
        ({"products": 10}, "products"),
        ({"customers": 0}, "customers"),
        ({"sessions_per_day": 0}, "sessions_per_day"),
        ({"guest_share": 1.2}, "guest_share"),
        ({"return_rate": -0.1}, "return_rate"),
        ({"currency": "gbp"}, "currency"),
        ({"weekend_boost": -1}, "weekend_boost"),
        ({"popularity_exponent": "steep"}, "popularity_exponent"),
    ],
)
def test_rejects_bad_settings_naming_them(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ShopConfig(**overrides)  # type: ignore[arg-type]


def test_defaults_describe_a_small_uk_shop() -> None:
    config = ShopConfig()
    assert (config.seed, config.start, config.days) == (7, date(2026, 9, 1), 28)
    assert (config.products, config.customers, config.sessions_per_day) == (400, 2000, 1500)
    assert (config.guest_share, config.currency) == (0.3, "GBP")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.days = 3  # type: ignore[misc]


def test_traffic_averages_one_over_a_week_and_favours_weekends() -> None:
    week = [date(2026, 9, 7 + i) for i in range(7)]  # Monday to Sunday
    factors = [traffic_factor(d, i, 7, 0.3, 0.0) for i, d in enumerate(week)]
    assert sum(factors) / 7 == pytest.approx(1.0)
    assert factors[5] / factors[0] == pytest.approx(1.3)
    growing = [traffic_factor(week[0], i, 70, 0.3, 0.05) for i in (0, 35, 69)]
    assert growing[0] < growing[1] < growing[2]
