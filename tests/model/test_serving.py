"""The recommender as a worker holds it: loading, reloading, profiles and fallbacks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from model.promotion import decide
from model.registry import Registry
from model.serving import NoModelError, Recommender
from model.train import train
from shared.lake import Lake
from tests.model.conftest import FAST, TRAINED_AT


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def a_customer_with_history(recommender: Recommender) -> str:
    model = recommender.model()
    return max(model.customer_rows, key=lambda c: model.purchases[model.customer_rows[c]].nnz)


def test_no_champion_is_a_clear_error(local_lake: Lake) -> None:
    with pytest.raises(NoModelError, match="shoplake train"):
        Recommender(Registry(local_lake)).for_customer("C1", 10)


def test_a_known_customer_gets_new_products_and_their_own_to_buy_again(
        trained_lake: Lake) -> None:
    recommender = Recommender(Registry(trained_lake))
    customer = a_customer_with_history(recommender)
    model = recommender.model()
    row = model.purchases[model.customer_rows[customer]]
    bought = {model.product_ids[i] for i in row.indices}

    answer = recommender.for_customer(customer, 5)

    assert answer.source == "personal" and answer.model_version == model.version
    assert len(answer.new_for_you) == 5
    assert not {p.product_id for p in answer.new_for_you} & bought
    assert {p.product_id for p in answer.buy_again} <= bought
    counts = [p.score for p in answer.buy_again]
    assert counts == sorted(counts, reverse=True) and counts[0] == row.data.max()
    assert all(p.name and p.category and p.unit_price for p in answer.new_for_you)


def test_an_unknown_customer_gets_popular_products_labelled_so(trained_lake: Lake) -> None:
    recommender = Recommender(Registry(trained_lake))

    answer = recommender.for_customer("never-seen", 3)

    assert answer.source == "popular" and answer.buy_again == []
    assert [p.product_id for p in answer.new_for_you] == [
        recommender.model().product_ids[i] for i in recommender.model().popular[:3]]


def test_an_anonymous_session_is_scored_from_its_items(trained_lake: Lake) -> None:
    recommender = Recommender(Registry(trained_lake))
    products = recommender.model().product_ids

    answer = recommender.for_items([products[0], products[1], "not-a-product"], 10)

    assert answer.source == "personal" and answer.unknown_items == ["not-a-product"]
    assert not {p.product_id for p in answer.new_for_you} & {products[0], products[1]}
    assert recommender.for_items([], 4).source == "popular"


def test_the_champion_is_loaded_once_and_reloaded_when_the_pointer_moves(
        trained_lake: Lake) -> None:
    clock = Clock()
    registry = Registry(trained_lake)
    recommender = Recommender(registry, reload_after_s=30, clock=clock)
    first = recommender.model()
    challenger = train(trained_lake, TRAINED_AT + timedelta(days=1), FAST).manifest
    decision = decide(registry, challenger.version, TRAINED_AT + timedelta(days=1),
                      tolerance=1.0)
    assert decision.promoted

    clock.now = 29.0
    assert recommender.model() is first  # not re-checked before the interval
    clock.now = 31.0
    assert recommender.model().version == challenger.version
    reloaded = recommender.model()
    clock.now = 62.0
    assert recommender.model() is reloaded  # pointer unchanged: nothing reloaded
