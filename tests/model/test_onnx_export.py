"""The exported ONNX graph ranks exactly like the numpy reference, for every model kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from model.onnx_export import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    OnnxScorer,
    export_onnx,
    scorer_from_onnx,
)
from model.scoring import ItemScorer, ModelKind, TopK, reference_top_k

N_ITEMS = 300
N_FACTORS = 16


def _dyadic(rng: np.random.Generator, shape: int | tuple[int, ...], scale: float) -> np.ndarray:
    """Random multiples of scale/16. Sums and products of these stay exact in float32, so
    onnxruntime and numpy agree to the bit whatever their summation order, and ties (the
    hard part of ranking) are common."""
    return (rng.integers(-16, 17, size=shape) * (scale / 16)).astype(np.float32)


def _scorer(kind: ModelKind, rng: np.random.Generator) -> ItemScorer:
    bias = _dyadic(rng, N_ITEMS, 4.0)
    if kind is ModelKind.EASE:
        rows = _dyadic(rng, (N_ITEMS, N_ITEMS), 1.0)
        np.fill_diagonal(rows, 0.0)
        return ItemScorer(kind, bias, rows)
    if kind is ModelKind.FACTORS:
        return ItemScorer(kind, bias, _dyadic(rng, (N_ITEMS, N_FACTORS), 1.0),
                          _dyadic(rng, (N_ITEMS, N_FACTORS), 1.0))
    return ItemScorer(kind, bias)


@pytest.fixture(scope="module", params=list(ModelKind), ids=str)
def model(request: pytest.FixtureRequest) -> tuple[ItemScorer, OnnxScorer]:
    scorer = _scorer(request.param, np.random.default_rng(7))
    return scorer, OnnxScorer(export_onnx(scorer))


def _request(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A random request: profile of 0-20 items (weights multiples of 1/4), excludes from
    none to almost all items, k from 0 to beyond the catalogue."""
    n_profile = int(rng.choice([0, rng.integers(1, 21)]))
    items = rng.integers(0, N_ITEMS, n_profile)
    weights = (rng.integers(1, 9, n_profile) / 4).astype(np.float32)
    n_exclude = int(rng.choice([0, rng.integers(1, 30), N_ITEMS - rng.integers(1, 10)]))
    exclude = rng.choice(N_ITEMS, n_exclude, replace=False).astype(np.int64)
    k = int(rng.integers(0, N_ITEMS + 50))
    return items, weights, exclude, k


def _assert_same(actual: TopK, expected: TopK) -> None:
    assert actual.items.dtype == np.int64
    assert actual.scores.dtype == np.float32
    np.testing.assert_array_equal(actual.items, expected.items)
    np.testing.assert_allclose(actual.scores, expected.scores, rtol=1e-5, atol=1e-5)


def _bias_ranking(bias: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
    """Best bias first, ties to the lower index, without the excluded items."""
    order = np.lexsort((np.arange(len(bias)), -bias))
    return order[~np.isin(order, exclude)][:k]


def test_matches_reference(model: tuple[ItemScorer, OnnxScorer]) -> None:
    scorer, onnx_scorer = model
    rng = np.random.default_rng(11)
    for _ in range(200):
        items, weights, exclude, k = _request(rng)
        _assert_same(onnx_scorer.top_k(items, weights, exclude, k),
                     reference_top_k(scorer, items, weights, exclude, k))


def test_ties_go_to_the_lower_index() -> None:
    # Three distinct values over 300 items: every k cuts through a run of ties.
    bias = np.random.default_rng(3).choice(np.float32([1.0, 2.0, 3.0]), N_ITEMS)
    scorer = ItemScorer(ModelKind.POPULARITY, bias)
    onnx_scorer = OnnxScorer(export_onnx(scorer))
    none = np.empty(0, dtype=np.int64)
    exclude = np.arange(0, N_ITEMS, 7)
    for k in (1, 5, 50, 99, 100, 101, 150, 250, N_ITEMS):
        for excluded in (none, exclude):
            expected = _bias_ranking(bias, excluded, k)
            reference = reference_top_k(scorer, none, np.empty(0, np.float32), excluded, k)
            actual = onnx_scorer.top_k(none, np.empty(0, np.float32), excluded, k)
            np.testing.assert_array_equal(reference.items, expected)
            np.testing.assert_array_equal(actual.items, expected)


@pytest.mark.parametrize("kind", [ModelKind.EASE, ModelKind.FACTORS], ids=str)
def test_empty_profile_ranks_by_bias(kind: ModelKind) -> None:
    scorer = _scorer(kind, np.random.default_rng(5))
    top = OnnxScorer(export_onnx(scorer)).top_k(
        np.empty(0, np.int64), np.empty(0, np.float32), np.array([4, 8]), 40)
    np.testing.assert_array_equal(top.items, _bias_ranking(scorer.bias, np.array([4, 8]), 40))
    np.testing.assert_array_equal(top.scores, scorer.bias[top.items])


def test_excluded_items_are_never_returned(model: tuple[ItemScorer, OnnxScorer]) -> None:
    _, onnx_scorer = model
    rng = np.random.default_rng(13)
    for _ in range(50):
        items, weights, _, _ = _request(rng)
        exclude = rng.choice(N_ITEMS, 100, replace=False)
        top = onnx_scorer.top_k(items, weights, exclude, N_ITEMS)
        assert len(top.items) == N_ITEMS - 100
        assert not np.isin(top.items, exclude).any()


def test_k_beyond_the_remaining_items_returns_only_those(
        model: tuple[ItemScorer, OnnxScorer]) -> None:
    scorer, onnx_scorer = model
    items, weights = np.array([1, 2, 2]), np.float32([1.0, 0.5, 2.0])
    remaining = np.array([3, 42, 299])
    exclude = np.setdiff1d(np.arange(N_ITEMS), remaining)
    top = onnx_scorer.top_k(items, weights, exclude, N_ITEMS + 10)
    assert sorted(top.items.tolist()) == remaining.tolist()
    _assert_same(top, reference_top_k(scorer, items, weights, exclude, N_ITEMS + 10))
    everything = onnx_scorer.top_k(items, weights, np.arange(N_ITEMS), 10)
    assert len(everything.items) == len(everything.scores) == 0


def test_every_kind_has_the_same_signature(model: tuple[ItemScorer, OnnxScorer]) -> None:
    graph = onnx.load_model_from_string(export_onnx(model[0])).graph
    assert tuple(i.name for i in graph.input) == INPUT_NAMES
    assert tuple(o.name for o in graph.output) == OUTPUT_NAMES
    assert model[1].n_items == N_ITEMS


def test_round_trips_through_a_file(tmp_path: Path) -> None:
    scorer = _scorer(ModelKind.FACTORS, np.random.default_rng(17))
    path = tmp_path / "factors.onnx"
    path.write_bytes(export_onnx(scorer))
    from_file = OnnxScorer(path)
    assert from_file.n_items == N_ITEMS
    rng = np.random.default_rng(19)
    for _ in range(20):
        items, weights, exclude, k = _request(rng)
        _assert_same(from_file.top_k(items, weights, exclude, k),
                     reference_top_k(scorer, items, weights, exclude, k))


def test_export_rejects_arrays_that_do_not_fit_the_kind() -> None:
    rows = np.zeros((N_ITEMS, N_FACTORS), dtype=np.float32)
    with pytest.raises(ValueError, match="item_out"):
        export_onnx(ItemScorer(ModelKind.FACTORS, np.zeros(N_ITEMS, np.float32), rows))


def test_the_weights_come_back_out_of_the_model(model: tuple[ItemScorer, OnnxScorer]) -> None:
    scorer, _ = model

    recovered = scorer_from_onnx(export_onnx(scorer))

    assert recovered.kind is scorer.kind
    for name in ("bias", "item_rows", "item_out"):
        expected, actual = getattr(scorer, name), getattr(recovered, name)
        assert (expected is None and actual is None) or np.array_equal(expected, actual)
