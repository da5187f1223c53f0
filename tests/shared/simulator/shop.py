"""The mid-sized simulated shop the simulator tests share (generated once, in conftest.py)."""

from __future__ import annotations

from shared.simulator import ShopConfig

CONFIG = ShopConfig(seed=11, days=28, products=200, customers=800, sessions_per_day=800)
