"""The simulated shop: a fixed world plus days generated one at a time.

Day d is made of that day's sessions and the returns and reviews planned on the
preceding days; both come from per-day random streams, so `day(d)` alone equals the
d-th item of `days()`. `days()` carries the plans forward instead of regenerating them,
and holds at most `MAX_DELAY_DAYS` days of plans: memory stays bounded however long
the period.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from . import rng as streams
from .columns import EventColumns, OrderLines, events_table, orders_table
from .config import ShopConfig
from .followups import MAX_DELAY_DAYS, Followups, plan_followups
from .sessions import DayActivity, simulate_sessions
from .world import World, build_world


@dataclass(frozen=True)
class SimulatedDay:
    """One day of the shop: its events (contract columns, by time) and its order lines."""

    date: date
    events: pa.Table
    orders: pa.Table


class SimulatedShop:
    """A deterministic shop: catalogue, customers over time, and its days of activity."""

    def __init__(self, world: World) -> None:
        self._world = world

    @property
    def config(self) -> ShopConfig:
        return self._world.config

    @property
    def dates(self) -> list[date]:
        """Every day of the period, in order."""
        return list(self._world.dates)

    @property
    def products(self) -> pa.Table:
        """product_id, name, category, price, currency."""
        return self._world.catalogue.table

    @property
    def bundles(self) -> pa.Table:
        """Ground truth of the planted co-purchase groups: bundle_id, product_id."""
        return self._world.catalogue.bundles

    def customers_as_of(self, day: date) -> pa.Table:
        """The customer export taken at the end of `day` (customers signed up by then)."""
        return self._world.customers.table_as_of((day - self.config.start).days)

    @property
    def customers(self) -> pa.Table:
        """The customer export at the end of the last day."""
        return self.customers_as_of(self.dates[-1])

    def lapsed_as_of(self, day: date) -> set[str]:
        """Ground truth of churn: the customers who had stopped visiting by `day`."""
        customers = self._world.customers
        lapsed = customers.lapse_day <= (day - self.config.start).days
        return set(customers.ids.filter(pa.array(lapsed)).to_pylist())

    def days(self) -> Iterator[SimulatedDay]:
        """Every day in order, each generated when asked for."""
        planned: deque[Followups] = deque(maxlen=MAX_DELAY_DAYS)
        for index in range(self.config.days):
            activity, followups = self._activity(index)
            yield self._assemble(index, activity, list(planned))
            planned.append(followups)

    def day(self, day: date) -> SimulatedDay:
        """One day on its own, equal to the same day from `days()`."""
        index = (day - self.config.start).days
        if not 0 <= index < self.config.days:
            raise ValueError(f"{day} is outside the simulated period "
                             f"{self.dates[0]} to {self.dates[-1]}")
        earlier = [self._activity(i)[1] for i in range(max(0, index - MAX_DELAY_DAYS), index)]
        return self._assemble(index, self._activity(index)[0], earlier)

    def _activity(self, index: int) -> tuple[DayActivity, Followups]:
        rng = streams.stream(self.config.seed, streams.SESSIONS, index)
        activity = simulate_sessions(self._world, index, rng)
        return activity, plan_followups(self._world, index, activity.sales, rng)

    def _assemble(self, index: int, activity: DayActivity,
                  earlier: list[Followups]) -> SimulatedDay:
        """The day's sessions plus what earlier days planned for it, sorted by time."""
        due = [f.on(index) for f in earlier]
        events = EventColumns.concat([activity.events, *(reviews for _, reviews in due)])
        events = events.take(np.argsort(events.at, kind="stable"))
        lines = OrderLines.concat([activity.sales, *(returns for returns, _ in due)])
        lines = lines.take(np.argsort(lines.at, kind="stable"))
        ids = streams.stream(self.config.seed, streams.IDS, index)
        return SimulatedDay(
            date=self.dates[index],
            events=events_table(self._world, index, events, ids),
            orders=orders_table(self._world, lines),
        )


def simulate_shop(config: ShopConfig | None = None) -> SimulatedShop:
    """Build the shop's fixed world; days are generated lazily by `days()` or `day()`."""
    return SimulatedShop(build_world(config or ShopConfig()))
