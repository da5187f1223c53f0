"""A simulated shop's lake, refreshed and trained once per session (the API, the dashboard).

The same shop and training time as tests/model (whose fixtures this folder cannot see); the
champion is EASE, whose scores depend on every item of a profile, so a live event visibly
changes an answer.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from model.registry import Registry
from model.retrain import RetrainResult
from model.scoring import ModelKind
from shared.lake import Lake
from shoplake.services import Services
from tests.model.conftest import TRAINED_AT, build_shop_lake, copy_lake
from tests.shoplake.api.lakes import lake_settings


@pytest.fixture(scope="session")
def api_shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop's catalogue and daily orders landed through the batch path, refreshed; no
    model trained yet."""
    return build_shop_lake(tmp_path_factory.mktemp("api-shop"))


@pytest.fixture(scope="session")
def api_trained(api_shop_dir: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[Path, RetrainResult]:
    """The shop lake after one retraining round asked for EASE, which is then the champion.

    On this small shop EASE does not beat popularity on the test week (NDCG@10 0.326 against
    0.336), so the promotion rule keeps it out; the fixture promotes it the way an operator
    would, by recording a promoting decision.
    """
    lake = copy_lake(api_shop_dir, tmp_path_factory.mktemp("api-trained") / "lake")
    result = Services(lake_settings(lake), lake=lake).retrain(TRAINED_AT, kind=ModelKind.EASE)
    assert result.trained.manifest.kind == ModelKind.EASE
    if not result.decision.promoted:
        reason = f"promoted by the API tests ({result.decision.reason})"
        Registry(lake).record(replace(result.decision, promoted=True, reason=reason))
    assert Registry(lake).champion() == result.trained.manifest.version
    return Path(lake.url), result


@pytest.fixture(scope="session")
def served_services(api_trained: tuple[Path, RetrainResult]) -> Services:
    """Services on the trained lake, shared by tests that only read it (recommendations)."""
    lake = Lake.open(str(api_trained[0]))
    return Services(lake_settings(lake), lake=lake)


@pytest.fixture
def trained_copy(api_trained: tuple[Path, RetrainResult], tmp_path: Path) -> Lake:
    """A private copy of the trained lake, for tests that write to it (events)."""
    return copy_lake(api_trained[0], tmp_path / "trained-lake")
