"""One day of shopping sessions, simulated for all sessions at once.

Each session walks a funnel: a landing page view, sometimes a search, product views,
sometimes add-to-cart (with a bundle sibling suggested by the cart), sometimes a removal,
and for a minority a purchase. Every step is drawn for all sessions of the day with
numpy, then the steps are interleaved per session by a stage number and timed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalogue import (
    CATEGORIES,
    QUERY_VARIANTS,
    bundle_sibling,
    category_weights,
    sample_global,
    sample_in_bundle,
    sample_in_category,
)
from .columns import KIND, EventColumns, OrderLines
from .customers import SEGMENT_ACTIVITY
from .timing import DAY_US, MS_US, click_gaps, day_start_us, times_of_day, traffic_factor
from .world import DEALS, HOME, NEW_IN, World

BOUNCE = 0.3
"""Sessions that leave after the landing page (they may still search)."""
EXTRA_VIEWS = 2.2
"""Mean number of product views beyond the first in a browsing session."""
MAX_VIEWS = 15
SEARCHES_P = (0.7, 0.22, 0.08)
"""Chance of 0, 1 or 2 searches in a session."""
FAVOURITE_FOCUS = 0.8
"""Chance a signed-in session browses one of the customer's favourite categories."""
INTEREST_VIEW = 0.3
"""Share of a signed-in customer's views that go to bundles they keep coming back to."""
FOCUS_VIEW = 0.5
"""Share of views within the session's category (the rest follow global popularity)."""
CART = 0.3
"""Chance a browsing session adds something to the cart."""
REMOVE = 0.2
"""Chance a cart loses one line before checkout."""
BUY_BY_SEGMENT = np.array([0.25, 0.35, 0.45, 0.55])
"""Chance a cart is bought, by segment (new, regular, loyal, vip): loyalty converts."""
BUY_GUEST = 0.22
QUANTITY_P = np.array([0.8, 0.14, 0.04, 0.01, 0.005, 0.005])
"""Chance of buying 1..6 units of a line."""
LANDING_P = (0.45, 0.1, 0.1, 0.35)
"""Home page, deals, new-in, or the session's category page."""
CHECKOUT_LINE_GAP_MS = (1, 50)
"""Lines of one order are recorded within milliseconds of each other."""

_STAGE_SEARCH, _STAGE_VIEW, _STAGE_SIBLING, _STAGE_REMOVE, _STAGE_PURCHASE = (
    10, 100, 900, 950, 1000,
)
"""Order of steps within a session; views and their add-to-carts interleave (100 + 2k, +1)."""
_STAGES_PER_SESSION = 4096


@dataclass(frozen=True)
class DayActivity:
    """The events of a day's sessions (unsorted) and the order lines they sold."""

    events: EventColumns
    sales: OrderLines


def simulate_sessions(world: World, day_index: int, rng: np.random.Generator) -> DayActivity:
    """All sessions of one day; uses only `rng` and the fixed world."""
    config = world.config
    day = world.dates[day_index]
    expected = config.sessions_per_day * traffic_factor(
        day, day_index, config.days, config.weekend_boost, config.weekly_growth
    )
    n = int(rng.poisson(expected))
    customer, buy_p = _shoppers(world, day_index, n, rng)
    favourite = world.customers.favourites[customer, rng.integers(0, 2, n)]
    focus = np.where(
        (customer >= 0) & (rng.random(n) < FAVOURITE_FOCUS),
        favourite,
        rng.choice(len(CATEGORIES), n, p=category_weights()),
    )

    n_views = np.where(
        rng.random(n) < BOUNCE, 0, 1 + np.minimum(rng.poisson(EXTRA_VIEWS, n), MAX_VIEWS - 1)
    )
    view_session, view_rank = _ranks(n_views)
    viewed = _browse(world, customer[view_session], focus[view_session], rng)
    view_start = np.cumsum(n_views) - n_views

    search_session, search_rank, query = _searches(world, focus, n_views, view_start, viewed,
                                                   rng)

    cart = _fill_carts(world, n, n_views, view_start, viewed, rng)
    lines = np.bincount(cart.session, minlength=n)
    line_start = np.cumsum(lines) - lines
    removing = np.flatnonzero((lines > 0) & (rng.random(n) < REMOVE))
    removed = line_start[removing] + (rng.random(len(removing)) * lines[removing]).astype(np.int64)
    kept = np.ones(len(cart.session), dtype=bool)
    kept[removed] = False
    buying = (np.bincount(cart.session[kept], minlength=n) > 0) & (rng.random(n) < buy_p)
    bought = np.flatnonzero(kept & buying[cart.session])
    bought_session, bought_line = _ranks(np.bincount(cart.session[bought], minlength=n))

    landing = rng.choice(len(LANDING_P), n, p=LANDING_P)
    landing_page = np.where(
        landing == 3, world.category_page(focus), np.array([HOME, DEALS, NEW_IN])[landing % 3]
    )
    sessions = np.arange(n)
    first_product_page = world.first_product_page
    sibling_view = cart.stage == _STAGE_SIBLING + 1
    steps = [
        _step("page_view", sessions, 0, page=landing_page),
        _step("search", search_session, _STAGE_SEARCH + search_rank, query=query),
        _step("product_view", view_session, _STAGE_VIEW + 2 * view_rank, product=viewed,
              page=first_product_page + viewed),
        _step("product_view", cart.session[sibling_view], _STAGE_SIBLING,
              product=cart.product[sibling_view],
              page=first_product_page + cart.product[sibling_view]),
        _step("add_to_cart", cart.session, cart.stage, product=cart.product,
              quantity=cart.quantity),
        _step("remove_from_cart", cart.session[removed], _STAGE_REMOVE,
              product=cart.product[removed], quantity=cart.quantity[removed]),
        _step("purchase", bought_session, _STAGE_PURCHASE + bought_line,
              product=cart.product[bought], quantity=cart.quantity[bought]),
    ]
    steps_by_field = {k: np.concatenate([s[k] for s in steps]) for k in steps[0]}
    order = np.argsort(steps_by_field["session"] * _STAGES_PER_SESSION + steps_by_field["stage"])
    step = {k: v[order] for k, v in steps_by_field.items()}
    at = _clock(world, day_index, step["session"], step["kind"], step["stage"], n, rng)

    purchase = step["kind"] == KIND["purchase"]
    order_number = _order_numbers(step["session"], step["stage"], at, n)
    order_of_event = np.where(purchase, order_number[step["session"]], -1)
    session_keys = np.frombuffer(rng.bytes(8 * n), dtype=np.uint64)
    events = EventColumns(
        kind=step["kind"].astype(np.int8),
        at=at,
        customer=customer[step["session"]],
        session=session_keys[step["session"]],
        product=step["product"],
        quantity=step["quantity"],
        order=order_of_event,
        query=step["query"],
        rating=np.zeros(len(at), dtype=np.int8),
        page=step["page"],
    )
    sold = np.flatnonzero(purchase)
    sales = OrderLines(
        order_day=np.full(len(sold), day_index),
        order=order_of_event[sold],
        line=step["stage"][sold] - _STAGE_PURCHASE + 1,
        at=at[sold],
        customer=events.customer[sold],
        product=step["product"][sold],
        quantity=step["quantity"][sold],
    )
    return DayActivity(events=events, sales=sales)


def _searches(
    world: World, focus: np.ndarray, n_views: np.ndarray, view_start: np.ndarray,
    viewed: np.ndarray, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Searches per session: (session, rank within the session, query index).

    A search finds the product viewed next, so queries lead to views; one with no view
    after it is about the session's category and found nothing worth a click.
    """
    n_search = rng.choice(len(SEARCHES_P), len(n_views), p=SEARCHES_P)
    session, rank = _ranks(n_search)
    has_view = rank < n_views[session]
    padded = np.append(viewed, 0)
    searched = np.where(
        has_view,
        padded[np.where(has_view, view_start[session] + rank, len(viewed))],
        sample_in_category(world.catalogue, focus[session], rng.random(len(session))),
    )
    query = searched * QUERY_VARIANTS + rng.integers(0, QUERY_VARIANTS, len(searched))
    return session, rank, query


def _order_numbers(session: np.ndarray, stage: np.ndarray, at: np.ndarray,
                   n: int) -> np.ndarray:
    """Each session's 0-based order number (-1: no order), in the order checkouts happen."""
    checkout = stage == _STAGE_PURCHASE
    number = np.full(n, -1)
    number[session[checkout][np.argsort(at[checkout], kind="stable")]] = np.arange(
        np.count_nonzero(checkout)
    )
    return number


def _shoppers(
    world: World, day_index: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Who each session belongs to (-1: guest) and how likely its cart is bought.

    Signed-in sessions go to customers who have signed up by the day and not lapsed, more
    often to loyal and vip ones; their segment as of the day sets the chance of buying.
    """
    customers = world.customers
    segment = customers.segment_on(day_index)
    active = (customers.signup_day <= day_index) & (customers.lapse_day > day_index)
    weight = active * SEGMENT_ACTIVITY[segment]
    guest = rng.random(n) < world.config.guest_share
    if weight.sum() == 0:
        guest[:] = True
        weight = np.ones_like(weight)
    customer = np.where(guest, -1, rng.choice(len(weight), n, p=weight / weight.sum()))
    buy_p = np.where(guest, BUY_GUEST, BUY_BY_SEGMENT[segment[customer]])
    return customer, buy_p


def _browse(
    world: World, customer: np.ndarray, focus: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The product of each view: an interest bundle, the session's category, or anything."""
    cat = world.catalogue
    n = len(customer)
    mode = rng.random(n)
    u = rng.random(n)
    interest = world.customers.interests[customer, rng.integers(0, 2, n)]
    from_interest = (customer >= 0) & (mode < INTEREST_VIEW)
    from_focus = ~from_interest & (mode < INTEREST_VIEW + FOCUS_VIEW)
    return np.where(
        from_interest,
        sample_in_bundle(cat, interest, u),
        np.where(from_focus, sample_in_category(cat, focus, u), sample_global(cat, u)),
    )


@dataclass(frozen=True)
class _Cart:
    """Cart lines grouped by session: distinct products, each with its stage and quantity."""

    session: np.ndarray
    product: np.ndarray
    stage: np.ndarray
    quantity: np.ndarray


def _fill_carts(world: World, n: int, n_views: np.ndarray, view_start: np.ndarray,
                viewed: np.ndarray, rng: np.random.Generator) -> _Cart:
    """Add some viewed products to carts, then maybe a bundle sibling of one of them.

    The sibling is the planted co-purchase signal: "goes well with" suggestions that
    shoppers often take.
    """
    n_products = world.catalogue.size
    carting = (n_views > 0) & (rng.random(n) < CART)
    n_add = np.where(carting, 1 + rng.binomial(np.clip(n_views, 1, 4) - 1, 0.3), 0)
    add_session, add_rank = _ranks(n_add)
    add_product = viewed[view_start[add_session] + add_rank]
    key = add_session * n_products + add_product
    first = np.sort(np.unique(key, return_index=True)[1])
    add_session, add_rank, add_product, key = (
        add_session[first], add_rank[first], add_product[first], key[first]
    )

    lines = np.bincount(add_session, minlength=n)
    line_start = np.cumsum(lines) - lines
    suggest = np.flatnonzero((lines > 0) & (rng.random(n) < world.config.bundle_affinity))
    pick = line_start[suggest] + (rng.random(len(suggest)) * lines[suggest]).astype(np.int64)
    sibling = bundle_sibling(world.catalogue, add_product[pick], rng.random(len(suggest)))
    fresh = ~np.isin(suggest * n_products + sibling, key)
    suggest, sibling = suggest[fresh], sibling[fresh]

    session = np.concatenate([add_session, suggest])
    stage = np.concatenate([_STAGE_VIEW + 2 * add_rank + 1,
                            np.full(len(suggest), _STAGE_SIBLING + 1)])
    order = np.lexsort((stage, session))
    quantity = 1 + rng.choice(len(QUANTITY_P), len(session), p=QUANTITY_P)
    return _Cart(
        session=session[order],
        product=np.concatenate([add_product, sibling])[order],
        stage=stage[order],
        quantity=quantity,
    )


def _clock(world: World, day_index: int, session: np.ndarray, kind: np.ndarray,
           stage: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Timestamps for steps sorted by session and stage.

    Sessions start on the diurnal curve; clicks follow each other by seconds to minutes
    (order lines by milliseconds); a session that would run past midnight starts earlier,
    so every event stays on its day.
    """
    counts = np.bincount(session, minlength=n)
    first = np.cumsum(counts) - counts
    gaps = click_gaps(rng, len(session))
    line_gaps = rng.integers(*CHECKOUT_LINE_GAP_MS, len(session)) * MS_US
    gaps = np.where((kind == KIND["purchase"]) & (stage > _STAGE_PURCHASE), line_gaps, gaps)
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[first], counts)
    duration = elapsed[first + counts - 1]
    begin = np.clip(times_of_day(rng, n), 0, DAY_US - MS_US - duration)
    return day_start_us(world.dates[day_index]) + np.repeat(begin, counts) + elapsed


def _step(kind: str, session: np.ndarray, stage: np.ndarray | int, *,
          product: np.ndarray | None = None, quantity: np.ndarray | None = None,
          query: np.ndarray | None = None, page: np.ndarray | None = None
          ) -> dict[str, np.ndarray]:
    """One kind of step for some sessions, with absent fields filled as -1 (quantity 0)."""
    m = len(session)

    def column(values: np.ndarray | None, absent: int) -> np.ndarray:
        if values is None:
            return np.full(m, absent, dtype=np.int64)
        return np.broadcast_to(np.asarray(values, dtype=np.int64), (m,))

    return {
        "kind": np.full(m, KIND[kind], dtype=np.int64),
        "session": np.asarray(session, dtype=np.int64),
        "stage": column(stage, 0),
        "product": column(product, -1),
        "quantity": column(quantity, 0),
        "query": column(query, -1),
        "page": column(page, -1),
    }


def _ranks(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of the given sizes: each member's group and its rank within the group."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - starts[owner]
