"""When shoppers act: daily traffic, the diurnal curve and the pauses between clicks.

All times are integer microseconds since the Unix epoch, in whole milliseconds, so an
event's JSON body (millisecond precision) parses back to exactly its table value.
"""

from __future__ import annotations

from datetime import date

import numpy as np

MS_US = 1_000
SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US

HOURLY_WEIGHTS = np.array([
    1.2, 0.7, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.8, 3.0,
    3.4, 3.3, 3.0, 2.9, 3.0, 3.3, 3.8, 4.4, 4.8, 4.5, 3.4, 2.2,
])
"""Relative activity per UTC hour: quiet nights, a lunchtime bump, a busy evening."""
_HOUR_P = HOURLY_WEIGHTS / HOURLY_WEIGHTS.sum()


def day_start_us(day: date) -> int:
    """Midnight UTC of `day` in microseconds since the epoch."""
    return int((np.datetime64(day, "D") - np.datetime64(0, "D")).astype(np.int64)) * DAY_US


def traffic_factor(day: date, day_index: int, days: int, weekend_boost: float,
                   weekly_growth: float) -> float:
    """Expected sessions on a day relative to the period's average.

    Weekdays and weekend days are scaled so a full week averages 1, and growth is
    centred on the middle of the period, so `sessions_per_day` stays the mean.
    """
    weekend = day.weekday() >= 5
    week_mean = (5 + 2 * (1 + weekend_boost)) / 7
    weekday_factor = (1 + weekend_boost if weekend else 1.0) / week_mean
    weeks_from_middle = (day_index - (days - 1) / 2) / 7
    return weekday_factor * (1 + weekly_growth) ** weeks_from_middle


def times_of_day(rng: np.random.Generator, count: int) -> np.ndarray:
    """Millisecond-aligned offsets into a day following the diurnal curve."""
    hour = rng.choice(24, count, p=_HOUR_P)
    within = rng.integers(0, 3_600_000, count)
    return (hour * 3_600_000 + within) * MS_US


def click_gaps(rng: np.random.Generator, count: int) -> np.ndarray:
    """Pauses between consecutive actions in a session: seconds to minutes, long-tailed."""
    seconds = rng.lognormal(np.log(25.0), 1.0, count)
    return (np.clip(seconds, 1.0, 1_200.0) * 1_000).astype(np.int64) * MS_US
