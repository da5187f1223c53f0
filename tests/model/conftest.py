"""Lakes with a simulated shop's orders refreshed into the star schema, a trained one, and
the check that batch scores are what the API serves."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from model.batch_scoring import TABLE, score_customers
from model.registry import Decision, Registry
from model.retrain import RetrainResult, retrain
from model.serving import Recommender
from model.train import TrainingConfig
from shared.lake import Lake, Zone
from shared.settings import Settings
from shared.simulator import ShopConfig, simulate_shop
from shared.warehouse.refresh import refresh
from shoplake.feed import ShopFeed
from shoplake.services import Services

# Five weeks: a week of test period, a week of validation before it, three to train on.
MODEL_SHOP = ShopConfig(seed=3, start=date(2026, 9, 1), days=35, products=80, customers=500,
                        sessions_per_day=160)
TRAINED_AT = datetime(2026, 10, 6, 2, 0, tzinfo=UTC)
FAST = TrainingConfig(test_days=7, l2_grid=(50.0, 250.0), factor_grid=(8, 32))


def copy_lake(source: Path, target: Path) -> Lake:
    shutil.copytree(source, target)
    return Lake.open(str(target))


def build_shop_lake(root: Path) -> Path:
    """The shop's catalogue and daily orders landed through the batch path, refreshed."""
    lake = Lake.open(str(root / "lake"))
    feed = ShopFeed(Services(Settings(lake_url=lake.url), lake=lake), root / "exports")
    shop = simulate_shop(MODEL_SHOP)
    feed.upload(shop.products, "shop_products", "products.csv")
    days = list(shop.days())
    for day in days:
        feed.orders(day)
    feed.upload(shop.customers_as_of(days[-1].date), "shop_customers", "customers.csv")
    refresh(lake)
    return root / "lake"


@pytest.fixture(scope="session")
def shop_lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_shop_lake(tmp_path_factory.mktemp("model-shop"))


@pytest.fixture
def shop_lake(shop_lake_dir: Path, tmp_path: Path) -> Lake:
    """A private copy: tests may train, promote and score in it."""
    return copy_lake(shop_lake_dir, tmp_path / "lake")


@pytest.fixture(scope="session")
def trained(shop_lake_dir: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, RetrainResult]:
    """The shop lake after one retraining round (its model promoted: the first one is)."""
    lake = copy_lake(shop_lake_dir, tmp_path_factory.mktemp("trained") / "lake")
    result = retrain(lake, TRAINED_AT, config=FAST, tolerance=0.005, active_days=90)
    return Path(lake.url), result


@pytest.fixture
def trained_lake(trained: tuple[Path, RetrainResult], tmp_path: Path) -> Lake:
    return copy_lake(trained[0], tmp_path / "trained-lake")


def assert_batch_scores_are_served(lake: Lake, version: str) -> None:
    """Make `version` the champion, batch-score its customers, and check that the API
    serves each of them the same new-for-you list."""
    registry = Registry(lake)
    registry.record(Decision(challenger=version, challenger_ndcg=0.0, champion=None,
                             champion_ndcg=None, tolerance=0.0, promoted=True,
                             reason="set up by the test", decided_at=TRAINED_AT.isoformat()))
    score_customers(lake, version, TRAINED_AT)
    scores = lake.table(Zone.CURATED, TABLE).to_pyarrow_table()
    recommender = Recommender(registry)

    assert set(scores["model_version"].to_pylist()) == {version}
    by_customer: dict[str, list[str]] = {}
    for row in scores.sort_by([("customer_id", "ascending"), ("rank", "ascending")]
                              ).to_pylist():
        by_customer.setdefault(row["customer_id"], []).append(row["product_id"])
    assert all(len(products) <= 10 for products in by_customer.values())
    for customer in sorted(by_customer)[:25]:
        served = recommender.for_customer(customer, 10)
        assert [p.product_id for p in served.new_for_you] == by_customer[customer]
        assert not {p.product_id for p in served.buy_again} & set(by_customer[customer])
