"""Events and order lines as integer-coded numpy columns, and their Arrow form.

The simulator works on codes (product index, customer index, -1 for "absent") because
numpy is fast on them; strings are materialised once per day with Arrow `take`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.events.contract import EVENT_SCHEMA, EVENT_TYPES
from shared.types import UTC_TIMESTAMP

from .strings import prefixed_hex, prefixed_numbers, uuid4_strings
from .world import World

EVENTS_SCHEMA = EVENT_SCHEMA
ORDERS_SCHEMA = pa.schema([
    pa.field("order_id", pa.string()),
    pa.field("line_number", pa.int32()),
    pa.field("ordered_at", UTC_TIMESTAMP),
    pa.field("customer_id", pa.string()),
    pa.field("product_id", pa.string()),
    pa.field("quantity", pa.int64()),
    pa.field("unit_price", pa.float64()),
    pa.field("currency", pa.string()),
    pa.field("status", pa.string()),
])

KIND = {name: np.int8(i) for i, name in enumerate(EVENT_TYPES)}
_PRICED = np.array([KIND["add_to_cart"], KIND["purchase"]])
_EVENT_TYPES = pa.array(EVENT_TYPES, pa.string())
_STATUSES = pa.array(["sale", "return"], pa.string())


class _Columns:
    """Shared row operations of the column bundles below (all fields are equal-length)."""

    def take(self, index: np.ndarray) -> Self:
        return type(self)(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[Self]) -> Self:
        return cls(**{
            f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)
        })

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))


@dataclass(frozen=True)
class EventColumns(_Columns):
    """Events: -1 (or 0 for quantity and rating) means the field is absent."""

    kind: np.ndarray
    at: np.ndarray
    customer: np.ndarray
    session: np.ndarray
    """uint64 session key, rendered as "s-" and 16 hex digits."""
    product: np.ndarray
    quantity: np.ndarray
    order: np.ndarray
    """0-based order number within the event's day."""
    query: np.ndarray
    rating: np.ndarray
    page: np.ndarray


@dataclass(frozen=True)
class OrderLines(_Columns):
    """Order lines; returns carry a negative quantity and the day of the original sale."""

    order_day: np.ndarray
    order: np.ndarray
    line: np.ndarray
    at: np.ndarray
    customer: np.ndarray
    product: np.ndarray
    quantity: np.ndarray


def events_table(world: World, day_index: int, events: EventColumns,
                 rng: np.random.Generator) -> pa.Table:
    """The day's events in contract form; event ids are drawn from `rng` in row order."""
    n = len(events)
    cat = world.catalogue
    priced = np.isin(events.kind, _PRICED)
    no_currency = np.where(priced, 0, -1)
    n_orders = int(events.order.max(initial=-1)) + 1
    order_ids = _order_ids(world, np.full(n_orders, day_index), np.arange(n_orders))
    return pa.table(
        [
            uuid4_strings(rng, n),
            _EVENT_TYPES.take(events.kind),
            pa.array(events.at, UTC_TIMESTAMP),
            _optional_take(world.customers.ids, events.customer),
            prefixed_hex("s-", events.session),
            pa.array(np.ones(n, dtype=np.int64)),
            _optional_take(cat.ids, events.product),
            _optional(events.quantity, events.quantity == 0),
            _optional(cat.price[events.product], ~priced),
            _optional_take(pa.array([world.config.currency]), no_currency),
            _optional_take(order_ids, events.order),
            _optional_take(cat.queries, events.query),
            _optional(events.rating.astype(np.int64), events.rating == 0),
            _optional_take(world.pages, events.page),
        ],
        schema=EVENTS_SCHEMA,
    )


def orders_table(world: World, lines: OrderLines) -> pa.Table:
    """Order lines in export form (status from the sign of the quantity)."""
    n = len(lines)
    cat = world.catalogue
    returned = lines.quantity < 0
    return pa.table(
        [
            _order_ids(world, lines.order_day, lines.order),
            pa.array(lines.line.astype(np.int32)),
            pa.array(lines.at, UTC_TIMESTAMP),
            _optional_take(world.customers.ids, lines.customer),
            cat.ids.take(lines.product),
            pa.array(lines.quantity.astype(np.int64)),
            pa.array(cat.price[lines.product]),
            pa.array([world.config.currency]).take(pa.array(np.zeros(n, dtype=np.int8))),
            _STATUSES.take(pa.array(returned.astype(np.int8))),
        ],
        schema=ORDERS_SCHEMA,
    )


def _order_ids(world: World, order_day: np.ndarray, order: np.ndarray) -> pa.Array:
    """"O-20260901-00017": sale day and 1-based order number (unique across the period)."""
    day_prefix = pa.array([f"O-{d:%Y%m%d}-" for d in world.dates], pa.string())
    prefix = day_prefix.take(pa.array(order_day))
    return pc.binary_join_element_wise(
        prefix, prefixed_numbers("", order + 1, 5), ""
    )


def _optional_take(values: pa.Array, index: np.ndarray) -> pa.Array:
    return values.take(pa.array(index, mask=index < 0))


def _optional(values: np.ndarray, absent: np.ndarray) -> pa.Array:
    return pa.array(values, mask=absent)

