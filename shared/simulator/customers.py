"""Customers: who they are, how they shop, and how their records change over time.

A few customers change segment (and fewer change country) during the period, and some
sign up during it, so exports taken on different days differ: the input an SCD type 2
customer dimension is built from. Everything is drawn once from the customers' own random
stream, so any day's snapshot is a pure function of the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.types import UTC_TIMESTAMP

from .catalogue import CATEGORIES, Catalogue, category_weights
from .config import ShopConfig
from .strings import prefixed_numbers
from .timing import DAY_US, day_start_us

SEGMENTS: tuple[str, ...] = ("new", "regular", "loyal", "vip")
SEGMENT_ACTIVITY = np.array([0.7, 1.0, 1.8, 3.0])
"""Relative number of sessions a customer of each segment starts."""

COUNTRIES: tuple[tuple[str, float], ...] = (
    ("United Kingdom", 0.82), ("Ireland", 0.05), ("United States", 0.02), ("France", 0.025),
    ("Germany", 0.025), ("Netherlands", 0.015), ("Spain", 0.015), ("Belgium", 0.01),
    ("Sweden", 0.01), ("Australia", 0.01),
)
FIRST_NAMES: tuple[str, ...] = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Freya", "Lily", "Sophie", "Emily",
    "Poppy", "Ella", "Charlotte", "Evie", "Harriet", "Aisha", "Priya", "Niamh", "Zara", "Ruby",
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Oscar", "Charlie", "Jacob",
    "Thomas", "James", "William", "Alfie", "Mohammed", "Rohan", "Callum", "Finn", "Ethan", "Owen",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Khan", "Lewis", "Harris", "Martin", "Cooper", "Hughes",
    "Edwards", "Turner", "Murphy", "O'Brien", "Kelly", "Campbell", "Stewart", "Ali", "Shah",
    "Morgan", "Bennett", "Price", "Fletcher",
)
EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.35), ("outlook.com", 0.2), ("hotmail.co.uk", 0.15), ("yahoo.co.uk", 0.1),
    ("icloud.com", 0.1), ("btinternet.com", 0.1),
)
NEW_CUSTOMER_DAYS = 90
"""Customers who signed up this recently are in the "new" segment."""
NO_CHANGE = np.iinfo(np.int32).max
"""Change day of a customer whose attribute never changes."""


@dataclass(frozen=True)
class CustomerBase:
    """Every customer's attributes, each attribute as an array indexed by customer."""

    start: date
    ids: pa.Array
    names: pa.Array
    emails: pa.Array
    signup_day: np.ndarray
    """Day index of sign-up relative to `start` (negative: before the period)."""
    signup_us: np.ndarray
    segment: np.ndarray
    """(customers, 2): segment index before and after the change."""
    segment_change_day: np.ndarray
    segment_change_us: np.ndarray
    country: np.ndarray
    """(customers, 2): country index before and after the move."""
    country_change_day: np.ndarray
    country_change_us: np.ndarray
    favourites: np.ndarray
    """(customers, 2) favourite categories; equal columns for one favourite."""
    interests: np.ndarray
    """(customers, 2) bundles the customer keeps coming back to."""
    lapse_day: np.ndarray
    """Day index from which the customer never visits again (NO_CHANGE: never lapses)."""

    @property
    def size(self) -> int:
        return len(self.signup_day)

    def segment_on(self, day_index: int) -> np.ndarray:
        """Segment index of every customer at the end of the given day."""
        changed = self.segment_change_day <= day_index
        return np.where(changed, self.segment[:, 1], self.segment[:, 0])

    def table_as_of(self, day_index: int) -> pa.Table:
        """The customer export as it would look at the end of the given day."""
        signed_up = np.flatnonzero(self.signup_day <= day_index)
        segment = self.segment_on(day_index)[signed_up]
        moved = self.country_change_day[signed_up] <= day_index
        country = np.where(moved, self.country[signed_up, 1], self.country[signed_up, 0])
        updated = np.maximum.reduce([
            self.signup_us[signed_up],
            np.where(self.segment_change_day[signed_up] <= day_index,
                     self.segment_change_us[signed_up], 0),
            np.where(moved, self.country_change_us[signed_up], 0),
        ])
        signup_date = np.datetime64(self.start, "D") + self.signup_day[signed_up]
        return pa.table({
            "customer_id": self.ids.take(signed_up),
            "name": self.names.take(signed_up),
            "email": self.emails.take(signed_up),
            "segment": pa.array(SEGMENTS).take(pa.array(segment)),
            "country": pa.array([c for c, _ in COUNTRIES]).take(pa.array(country)),
            "signup_date": pa.array(signup_date, pa.date32()),
            "updated_at": pa.array(updated, UTC_TIMESTAMP),
        })


def build_customers(
    config: ShopConfig, catalogue: Catalogue, rng: np.random.Generator
) -> CustomerBase:
    """Draw the customer base: identities, tenure, segment, country, tastes and changes."""
    n = config.customers
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    domain = rng.choice(len(EMAIL_DOMAINS), n, p=[w for _, w in EMAIL_DOMAINS])
    numbers = np.arange(1, n + 1)
    ids = prefixed_numbers("C", numbers, 5)
    first_names = pa.array(FIRST_NAMES).take(pa.array(first))
    last_names = pa.array(LAST_NAMES).take(pa.array(last))
    names = pc.binary_join_element_wise(first_names, last_names, " ")
    local_part = pc.replace_substring(
        pc.utf8_lower(pc.binary_join_element_wise(first_names, last_names, ".")), "'", ""
    )
    emails = pc.binary_join_element_wise(
        local_part, pa.array(numbers).cast(pa.string()), "@",
        pa.array([d for d, _ in EMAIL_DOMAINS]).take(pa.array(domain)), "",
    )

    late = rng.random(n) < config.late_signup_share
    recent = rng.random(n) < 0.25
    tenure = np.where(recent, rng.integers(1, NEW_CUSTOMER_DAYS + 1, n),
                      rng.integers(NEW_CUSTOMER_DAYS + 1, 5 * 365, n))
    signup_day = np.where(late, rng.integers(0, config.days, n), -tenure)
    origin = day_start_us(config.start)
    signup_us = origin + signup_day * DAY_US + _time_of_day(rng, n)
    is_new = late | recent
    segment_before = np.where(is_new, 0, rng.choice([1, 2, 3], n, p=[0.6, 0.28, 0.12]))
    segment_after = segment_before + np.where(rng.random(n) < 0.8, 1, -1)
    segment_after = np.where(segment_after < 0, 1, np.where(segment_after > 3, 2, segment_after))
    segment_change_day = _change_days(rng, signup_day, config.days, config.segment_change_share)

    weights = np.array([w for _, w in COUNTRIES])
    country_before = rng.choice(len(COUNTRIES), n, p=weights / weights.sum())
    country_after = rng.choice(len(COUNTRIES), n, p=weights / weights.sum())
    country_after = np.where(country_after == country_before,
                             (country_before + 1) % len(COUNTRIES), country_after)
    country_change_day = _change_days(rng, signup_day, config.days, config.country_change_share)

    n_cat = len(CATEGORIES)
    favourite = rng.choice(n_cat, n, p=category_weights())
    second = (favourite + rng.integers(1, n_cat, n)) % n_cat
    second = np.where(rng.random(n) < 0.45, second, favourite)
    favourites = np.stack([favourite, second], axis=1)
    count = catalogue.category_bundle_count[favourites]
    interests = catalogue.category_bundle_start[favourites] + (
        rng.random((n, 2)) * count
    ).astype(np.int64)

    segment_change_us = _change_us(rng, origin, segment_change_day)
    country_change_us = _change_us(rng, origin, country_change_day)
    # Drawn last, so a shop without lapses draws everything else exactly as before.
    lapse_day = _change_days(rng, signup_day, config.days, config.lapse_share)

    return CustomerBase(
        start=config.start,
        ids=ids,
        names=names,
        emails=emails,
        signup_day=signup_day,
        signup_us=signup_us,
        segment=np.stack([segment_before, segment_after], axis=1),
        segment_change_day=segment_change_day,
        segment_change_us=segment_change_us,
        country=np.stack([country_before, country_after], axis=1),
        country_change_day=country_change_day,
        country_change_us=country_change_us,
        favourites=favourites,
        interests=interests,
        lapse_day=lapse_day,
    )


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, DAY_US // 1000, n) * 1000


def _change_days(
    rng: np.random.Generator, signup_day: np.ndarray, days: int, share: float
) -> np.ndarray:
    """A change day after sign-up within the period for `share` of customers, else NO_CHANGE."""
    first = np.maximum(signup_day, 0) + 1
    span = days - first
    day = first + (rng.random(len(signup_day)) * np.maximum(span, 0)).astype(np.int64)
    changes = (rng.random(len(signup_day)) < share) & (span > 0)
    return np.where(changes, day, NO_CHANGE)


def _change_us(rng: np.random.Generator, origin: int, change_day: np.ndarray) -> np.ndarray:
    """A time on the change day (irrelevant for customers that never change)."""
    day = np.where(change_day == NO_CHANGE, 0, change_day)
    return origin + day * DAY_US + _time_of_day(rng, len(change_day))
