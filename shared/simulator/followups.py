"""What happens after a sale: returns and reviews, planned on the day of the sale.

Deciding them at sale time from the sale day's own random stream keeps every day
independent: a later day only needs the (cheaply regenerated) sales of the preceding
`MAX_DELAY_DAYS` days to know which returns and reviews fall on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .columns import KIND, EventColumns, OrderLines
from .timing import DAY_US, MS_US, click_gaps, day_start_us, times_of_day
from .world import ACCOUNT_ORDERS, World

MAX_DELAY_DAYS = 14
"""Returns and reviews come 1 to 14 days after the sale."""
RATING_P = np.array([0.03, 0.05, 0.12, 0.35, 0.45])
"""Stars 1-5 of a kept product."""
RETURNED_RATING_P = np.array([0.45, 0.3, 0.15, 0.07, 0.03])
"""Stars 1-5 of a returned product: mostly unhappy."""


@dataclass(frozen=True)
class Followups:
    """Returns and review sessions planned from one day's sales, with the day each falls on."""

    return_day: np.ndarray
    returns: OrderLines
    review_day: np.ndarray
    reviews: EventColumns

    def on(self, day_index: int) -> tuple[OrderLines, EventColumns]:
        """The returns and review events falling on the given day."""
        return (self.returns.take(self.return_day == day_index),
                self.reviews.take(self.review_day == day_index))


def plan_followups(world: World, day_index: int, sales: OrderLines,
                   rng: np.random.Generator) -> Followups:
    """Pick returned lines (any sale) and reviewed ones (signed-in customers' sales).

    A return is a new line of the same order with a negative quantity (part or all of
    the line). A review is a short session: the account's order page, the product, the
    review.
    """
    config = world.config
    m = len(sales)
    returned = rng.random(m) < config.return_rate
    reviewed = (sales.customer >= 0) & (rng.random(m) < config.review_rate)
    return_delay = rng.integers(1, MAX_DELAY_DAYS + 1, m)
    review_delay = rng.integers(1, MAX_DELAY_DAYS + 1, m)
    stars = np.where(
        returned,
        rng.choice(5, m, p=RETURNED_RATING_P),
        rng.choice(5, m, p=RATING_P),
    ) + 1
    origin = day_start_us(config.start)

    # Returns after the period are dropped before numbering, so line numbers have no gaps;
    # returned lines of an order are numbered after its sold lines, in the order they return.
    return_at = origin + (day_index + return_delay) * DAY_US + times_of_day(rng, m)
    r = np.flatnonzero(returned & (day_index + return_delay < config.days))
    r = r[np.lexsort((return_at[r], sales.order[r]))]
    lines_in_order = np.bincount(sales.order, minlength=1)[sales.order[r]]
    returned_before = np.arange(len(r)) - np.searchsorted(sales.order[r], sales.order[r])
    returns = OrderLines(
        order_day=np.full(len(r), day_index),
        order=sales.order[r],
        line=lines_in_order + returned_before + 1,
        at=return_at[r],
        customer=sales.customer[r],
        product=sales.product[r],
        quantity=-(1 + (rng.random(len(r)) * sales.quantity[r]).astype(np.int64)),
    )

    v = np.flatnonzero(reviewed)
    k = len(v)
    review_day = day_index + review_delay[v]
    to_product, to_review = click_gaps(rng, k), click_gaps(rng, k)
    begin = np.clip(times_of_day(rng, k), 0, DAY_US - MS_US - to_product - to_review)
    start = origin + review_day * DAY_US + begin
    product = sales.product[v]
    session = np.frombuffer(rng.bytes(8 * k), dtype=np.uint64)
    reviews = EventColumns(
        kind=np.repeat(np.array([KIND["page_view"], KIND["product_view"], KIND["review"]]), k),
        at=np.concatenate([start, start + to_product, start + to_product + to_review]),
        customer=np.tile(sales.customer[v], 3),
        session=np.tile(session, 3),
        product=np.concatenate([np.full(k, -1), product, product]),
        quantity=np.zeros(3 * k, dtype=np.int64),
        order=np.full(3 * k, -1),
        query=np.full(3 * k, -1),
        rating=np.concatenate([np.zeros(2 * k, dtype=np.int8), stars[v].astype(np.int8)]),
        page=np.concatenate([np.full(k, ACCOUNT_ORDERS), world.first_product_page + product,
                             np.full(k, -1)]),
    )
    return Followups(
        return_day=day_index + return_delay[r],
        returns=returns,
        review_day=np.tile(review_day, 3),
        reviews=reviews,
    )
