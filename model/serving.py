"""Serving: the champion's ONNX graph, the trained history and live profiles, merged.

A worker loads the champion once and re-reads the small pointer file at most every
`reload_after_s` seconds, loading a new version only when the pointer moved. A request's
profile is the customer's trained purchases plus what their live profile (written by
`ingest_events`) holds, so a purchase made a minute ago changes the next answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import pyarrow as pa

from model.evaluate import buy_again_order
from model.interactions import Interactions
from model.onnx_export import OnnxScorer
from model.registry import Manifest, Registry
from shared.profiles import Interaction, ProfileStore

logger = logging.getLogger("shoplake.serving")

# Views say less about taste than carts and purchases; they still shape the profile.
LIVE_WEIGHTS = {"purchased": 1.0, "carted": 1.0, "viewed": 0.5}
POPULAR_KEPT = 1000
"""Popular items kept ready for fallback answers (also the largest useful `k`)."""


class NoModelError(LookupError):
    """No champion has been promoted yet."""


@dataclass(frozen=True)
class Recommended:
    product_id: str
    name: str | None
    category: str | None
    unit_price: float | None
    currency: str | None
    score: float
    """new_for_you: the model's score; buy_again: times bought; popular: buyers relative to
    the best seller's."""


@dataclass(frozen=True)
class Recommendations:
    model_version: str
    source: Literal["personal", "popular"]
    """`popular` when nothing is known about the shopper (the lists are best sellers)."""
    new_for_you: list[Recommended]
    buy_again: list[Recommended]
    unknown_items: list[str]
    """Requested product ids the model does not know (ignored)."""


@dataclass(frozen=True)
class _Profile:
    items: np.ndarray  # int64 item indices
    weights: np.ndarray  # float32
    exclude: np.ndarray  # int64: already bought
    again: np.ndarray  # int64: buy-again list, best first
    again_purchases: np.ndarray  # float64: how often each of `again` was bought


class LoadedModel:
    """One registered version, ready to score."""

    def __init__(self, registry: Registry, version: str, threads: int) -> None:
        self.manifest: Manifest = registry.manifest(version)
        self.version = version
        self.scorer = OnnxScorer(registry.read(version, "model.onnx"), threads=threads)
        items = registry.read_table(version, "items.parquet")
        self.product_ids: list[str] = items["product_id"].to_pylist()
        self.index = {product: item for item, product in enumerate(self.product_ids)}
        self._names = items["name"].to_pylist()
        self._categories = items["category"].to_pylist()
        self._prices = [None if p is None else float(p) for p in items["unit_price"].to_pylist()]
        self._currencies = items["currency"].to_pylist()
        buyers = items["buyers"].to_numpy().astype(np.float64)
        self.popular = np.lexsort((np.arange(len(buyers)), -buyers))[:POPULAR_KEPT]
        self._popularity = buyers / max(float(buyers.max(initial=0.0)), 1.0)
        self._load_history(registry.read_table(version, "customers.parquet"))
        self.latest_purchase_us = int(
            datetime.fromisoformat(self.manifest.data["latest_purchase"]).timestamp() * 1e6)

    def _load_history(self, customers: pa.Table) -> None:
        history = Interactions.from_table(customers, np.asarray(self.product_ids, object))
        self.customer_rows = {c: r for r, c in enumerate(history.customers)}
        self.purchases = history.counts
        self.last_purchase = history.last_us

    def product(self, item: int, score: float) -> Recommended:
        return Recommended(self.product_ids[item], self._names[item], self._categories[item],
                           self._prices[item], self._currencies[item], round(score, 6))

    def popular_list(self, k: int) -> list[Recommended]:
        return [self.product(int(i), float(self._popularity[i])) for i in self.popular[:k]]


class Recommender:
    """Answers recommendation requests; safe to share between a worker's threads."""

    def __init__(self, registry: Registry, profiles: ProfileStore | None = None, *,
                 reload_after_s: float = 30.0, threads: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.profiles = profiles
        self.reload_after_s = reload_after_s
        self.threads = threads
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded: LoadedModel | None = None
        self._pointer: bytes | None = None
        self._checked_at = -float("inf")

    def loaded(self) -> bool:
        """Whether `model()` answers from memory now (no pointer check or load is due)."""
        return (self._loaded is not None
                and self._clock() - self._checked_at < self.reload_after_s)

    def model(self) -> LoadedModel:
        """The champion, loaded once and reloaded when the pointer has moved."""
        if self._loaded is not None and self._clock() - self._checked_at < self.reload_after_s:
            return self._loaded
        with self._lock:
            if self._loaded is None or self._clock() - self._checked_at >= self.reload_after_s:
                pointer = self.registry.champion_pointer()
                if pointer.version is None:
                    raise NoModelError("no model has been promoted yet: run `shoplake train`")
                if pointer.stored.data != self._pointer:
                    self._loaded = LoadedModel(self.registry, pointer.version, self.threads)
                    self._pointer = pointer.stored.data
                self._checked_at = self._clock()
            assert self._loaded is not None
            return self._loaded

    def for_customer(self, customer_id: str, k: int) -> Recommendations:
        model = self.model()
        profile = _customer_profile(model, customer_id, self._live(customer_id))
        return self._answer(model, profile, k, [])

    def _live(self, customer_id: str) -> list[Interaction]:
        """The live profile; when the store fails, none (the trained history still answers,
        and an outage of a cache must not turn every request into an error)."""
        if self.profiles is None:
            return []
        try:
            return self.profiles.recent(customer_id)
        except Exception:
            logger.exception("live profile of %r unavailable; answering from the trained "
                             "history", customer_id)
            return []

    def for_items(self, product_ids: Sequence[str], k: int) -> Recommendations:
        """An anonymous session: scored from the products it touched, which are left out."""
        model = self.model()
        known = [model.index[p] for p in dict.fromkeys(product_ids) if p in model.index]
        items = np.asarray(known, dtype=np.int64)
        unknown = [p for p in dict.fromkeys(product_ids) if p not in model.index]
        nothing = np.zeros(0, np.int64)
        profile = _Profile(items, np.ones(len(items), np.float32), items, nothing,
                           nothing.astype(np.float64))
        return self._answer(model, profile, k, unknown)

    @staticmethod
    def _answer(model: LoadedModel, profile: _Profile, k: int,
                unknown: list[str]) -> Recommendations:
        if not len(profile.items):
            return Recommendations(model.version, "popular", model.popular_list(k), [],
                                   unknown)
        top = model.scorer.top_k(profile.items, profile.weights, profile.exclude, k)
        again = [model.product(int(i), float(n))
                 for i, n in zip(profile.again[:k], profile.again_purchases[:k], strict=True)]
        return Recommendations(
            model.version, "personal",
            [model.product(int(i), float(s)) for i, s in zip(top.items, top.scores,
                                                             strict=True)],
            again, unknown)


def _customer_profile(model: LoadedModel, customer_id: str,
                      live: list[Interaction]) -> _Profile:
    """Trained purchases plus live interactions: what to score from, mask, and buy again."""
    row = model.customer_rows.get(customer_id)
    start, end = (0, 0) if row is None else model.purchases.indptr[row:row + 2]
    items = model.purchases.indices[start:end].astype(np.int64)
    purchases = model.purchases.data[start:end]
    last = model.last_purchase.data[start:end]
    weights = np.ones(len(items), np.float32)
    if live:  # rare next to the trained history: merged in Python, item by item
        items, weights, purchases, last = _with_live(model, items, purchases, last, live)
    bought = purchases > 0
    order = buy_again_order(purchases[bought], last[bought])
    return _Profile(items, weights, items[bought], items[bought][order],
                    purchases[bought][order])


def _with_live(model: LoadedModel, items: np.ndarray, purchases: np.ndarray, last: np.ndarray,
               live: list[Interaction]) -> tuple[np.ndarray, ...]:
    """The trained arrays with live interactions merged in (a view adds an item to score
    from, a purchase also to mask and to buy again)."""
    weights = dict.fromkeys(items.tolist(), 1.0)
    counts = dict(zip(items.tolist(), purchases.tolist(), strict=True))
    latest = dict(zip(items.tolist(), last.tolist(), strict=True))
    for interaction in live:
        item = model.index.get(interaction.product_id)
        if item is None:
            continue  # a product newer than the model: nothing to score it with
        weights[item] = max(weights.get(item, 0.0), LIVE_WEIGHTS[interaction.kind])
        counts.setdefault(item, 0.0)
        latest.setdefault(item, 0.0)
        if interaction.kind != "purchased":
            continue
        at_us = interaction.at.timestamp() * 1e6
        if counts[item] == 0:
            counts[item], latest[item] = 1.0, at_us
        elif at_us > latest[item]:
            if at_us > model.latest_purchase_us:
                counts[item] += 1.0  # bought again since the data the model was trained on
            latest[item] = at_us
    merged = np.fromiter(weights, np.int64, len(weights))
    return (merged, np.fromiter(weights.values(), np.float32, len(weights)),
            np.array([counts[i] for i in weights], np.float64),
            np.array([latest[i] for i in weights], np.float64))
