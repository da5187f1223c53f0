"""The fixed part of a simulated shop: config, catalogue, customers and site pages.

Built once per shop from its own random streams; every day is simulated against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from . import rng as streams
from .catalogue import CATEGORIES, Catalogue, build_catalogue
from .config import ShopConfig
from .customers import CustomerBase, build_customers

HOME, DEALS, NEW_IN, ACCOUNT_ORDERS = range(4)
"""Indices of the fixed pages; category pages follow them, then product pages."""
_FIXED_PAGES = ("/", "/deals", "/new-in", "/account/orders")


@dataclass(frozen=True)
class World:
    """What does not change from day to day."""

    config: ShopConfig
    catalogue: Catalogue
    customers: CustomerBase
    pages: pa.Array
    dates: tuple[date, ...]

    def category_page(self, category: int) -> int:
        return len(_FIXED_PAGES) + category

    @property
    def first_product_page(self) -> int:
        return len(_FIXED_PAGES) + len(CATEGORIES)


def build_world(config: ShopConfig) -> World:
    catalogue = build_catalogue(config, streams.stream(config.seed, streams.CATALOGUE))
    customers = build_customers(config, catalogue, streams.stream(config.seed, streams.CUSTOMERS))
    pages = pa.concat_arrays([
        pa.array(_FIXED_PAGES, pa.string()),
        pa.array([f"/c/{c.slug}" for c in CATEGORIES], pa.string()),
        pc.binary_join_element_wise("/p/", catalogue.ids, ""),
    ])
    dates = tuple(config.start + timedelta(days=i) for i in range(config.days))
    return World(config=config, catalogue=catalogue, customers=customers, pages=pages,
                 dates=dates)
