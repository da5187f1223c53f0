"""The kind-specific part of the ONNX scoring graph, and the parts the kinds use.

`model.onnx_export` builds the same graph around every kind's part: the part reads the
inputs `items` and `weights` and the `bias` initializer (always present) and computes a
score for every item; masking and top k follow. Each part checks first that the scorer's
arrays fit it, so a mismatch fails at export, not at serving. The parts here are the three
forms `ItemScorer` documents. A kind needing another graph writes its own part, which must
still compute `model.scoring.reference_scores` of its arrays and keep them in initializers
`item_rows` and `item_out_t` (item_out transposed): batch scoring reads those back
(`scorer_from_onnx`) and scores in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

from model.scoring import ItemScorer


@dataclass(frozen=True)
class ScoreGraph:
    """Nodes and initializers that compute `output`, one score per item before masking."""

    output: str
    nodes: tuple[NodeProto, ...] = ()
    initializers: tuple[TensorProto, ...] = ()


def initializer(name: str, array: np.ndarray) -> TensorProto:
    """A float32 initializer (every model weight is float32)."""
    return numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name)


def bias_scores(scorer: ItemScorer) -> ScoreGraph:
    """The bias alone ranks the items (popularity)."""
    return ScoreGraph("bias")


def row_scores(scorer: ItemScorer) -> ScoreGraph:
    """The profile's rows are item scores (EASE's item x item matrix), plus the bias."""
    profile = _profile(scorer)
    if scorer.item_rows.shape[1] != scorer.n_items:
        raise ValueError(f"{scorer.kind} needs a square item_rows")
    return _plus_bias(profile)


def factor_scores(scorer: ItemScorer) -> ScoreGraph:
    """The profile folded into factors, scored against `item_out`, plus the bias."""
    profile = _profile(scorer)
    shape = (scorer.n_items, scorer.item_rows.shape[1])
    if scorer.item_out is None or scorer.item_out.shape != shape:
        raise ValueError(f"{scorer.kind} needs item_out of shape {shape}")
    # profile[d] @ item_out.T[d, n], not item_out[n, d] @ profile[d]: onnxruntime's
    # GEMM with one output column is ~18x slower (9 ms vs 0.5 ms at 50k x 64).
    return _plus_bias(ScoreGraph(
        "item_scores",
        (*profile.nodes, helper.make_node("MatMul", ["profile", "item_out_t"], ["item_scores"])),
        (*profile.initializers, initializer("item_out_t", scorer.item_out.T))))


def _profile(scorer: ItemScorer) -> ScoreGraph:
    """`profile` = Σ weights[i] · item_rows[items[i]] (gather, weight, sum)."""
    rows, n = scorer.item_rows, scorer.n_items
    if rows is None or rows.ndim != 2 or rows.shape[0] != n:
        raise ValueError(f"{scorer.kind} needs item_rows with {n} rows")
    return ScoreGraph(
        "profile",
        (helper.make_node("Gather", ["item_rows", "items"], ["rows"], axis=0),
         helper.make_node("Unsqueeze", ["weights", "axis1"], ["weight_col"]),
         helper.make_node("Mul", ["rows", "weight_col"], ["weighted"]),
         helper.make_node("ReduceSum", ["weighted", "axis0"], ["profile"], keepdims=0)),
        (initializer("item_rows", rows),
         numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
         numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1")))


def _plus_bias(scores: ScoreGraph) -> ScoreGraph:
    return ScoreGraph("raw_scores", (*scores.nodes, helper.make_node(
        "Add", [scores.output, "bias"], ["raw_scores"])), scores.initializers)
