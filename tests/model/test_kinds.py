"""The kind registry: it covers every kind, and a kind added to it alone is trained,
exported, batch-scored and served by the same code as the built-in ones."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path

import numpy as np
import pytest

from model.interactions import Interactions
from model.kinds import KINDS, KindSpec, Models
from model.onnx_export import OnnxScorer, scorer_from_onnx
from model.onnx_graph import ScoreGraph, bias_scores
from model.registry import Registry
from model.scoring import ItemScorer, ModelKind
from model.train import train
from shared.lake import Lake
from tests.model.conftest import FAST, TRAINED_AT, assert_batch_scores_are_served


class ThrowAway(StrEnum):
    RECENT = "recent"


def recent_models(data: Interactions) -> Models:
    """Items ranked by how recently anyone bought them (no parameters)."""
    last_bought = data.last_us.max(axis=0).toarray().ravel()
    bias = np.empty(len(last_bought), np.float32)
    bias[np.argsort(last_bought, kind="stable")] = np.arange(len(bias)) / len(bias)
    return lambda _params: ItemScorer(ThrowAway.RECENT, bias)


def test_every_kind_is_registered_under_its_own_name() -> None:
    assert set(KINDS) == set(ModelKind)
    assert all(spec.kind is kind for kind, spec in KINDS.items())
    assert [spec.kind for spec in KINDS.values() if spec.floor] == [ModelKind.POPULARITY]


def test_a_kind_added_to_the_registry_alone_is_trained_exported_and_served(
        shop_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    exported: list[str] = []

    def recent_graph(scorer: ItemScorer) -> ScoreGraph:
        exported.append(scorer.kind)
        return bias_scores(scorer)

    monkeypatch.setitem(KINDS, ThrowAway.RECENT,  # type: ignore[index]
                        KindSpec(ThrowAway.RECENT, recent_models, recent_graph))

    config = replace(FAST, kind=ThrowAway.RECENT)  # type: ignore[arg-type]
    result = train(shop_lake, TRAINED_AT, config)

    manifest = result.manifest
    assert manifest.kind == "recent" and manifest.params == {}
    assert [c.kind for c in result.candidates] == [ThrowAway.RECENT, ModelKind.POPULARITY]
    assert exported == [ThrowAway.RECENT]
    model = Registry(shop_lake).read(manifest.version, "model.onnx")
    scorer = scorer_from_onnx(model)
    assert scorer.kind is ThrowAway.RECENT
    none = np.empty(0, np.int64)
    top = OnnxScorer(model).top_k(none, np.empty(0, np.float32), none, 5)
    np.testing.assert_array_equal(top.items, np.argsort(-scorer.bias, kind="stable")[:5])
    assert_batch_scores_are_served(shop_lake, manifest.version)


def test_importing_the_registry_leaves_the_training_libraries_unloaded() -> None:
    """Serving and promotion import the registry: scikit-learn loads only to train."""
    check = ("import sys, model.kinds, model.promotion, model.serving; "
             "sys.exit('sklearn' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", check], cwd=root, check=False).returncode == 0
