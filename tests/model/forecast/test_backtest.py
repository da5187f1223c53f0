"""The backtest and the choice of method, on series whose shape is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.forecast.backtest import BOUNDS, Windows, forecast_series, plan_windows
from model.forecast.methods import BASELINE, DAILY, INTERMITTENT

START = pd.Timestamp("2026-01-05")


def daily(values: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"unique_id": uid, "y": y,
                                    "ds": pd.date_range(START, periods=len(y), freq="D")})
                      for uid, y in values.items()], ignore_index=True)


def weekly_pattern(days: int, level: float, seed: int) -> np.ndarray:
    """A level with a weekly shape (busy weekends) and noise: seasonal naive copies the
    noise of one week, smoothing methods average it out."""
    rng = np.random.default_rng(seed)
    week = np.array([1.0, 0.9, 0.95, 1.0, 1.1, 1.5, 1.4])
    return level * week[np.arange(days) % 7] * rng.normal(1, 0.12, days)


@pytest.mark.parametrize(("length", "expected"), [
    (200, Windows(28, 3, 28)),   # room for three windows a horizon apart
    (98, Windows(28, 3, 28)),    # just
    (60, Windows(28, 3, 9)),     # closer cutoffs
    (30, Windows(14, 3, 1)),     # shorter windows
    (16, None),                  # two seasons of training would leave nothing to score
])
def test_windows_shrink_with_the_history(length: int, expected: Windows | None) -> None:
    plan = plan_windows(length, horizon=28, windows=3, season=7)

    assert plan == expected
    if plan is not None:  # the first cutoff still leaves two seasons to train on
        assert length - plan.horizon - (plan.windows - 1) * plan.step >= 14


def test_each_series_gets_the_method_with_the_lowest_backtest_mase() -> None:
    frame = daily({f"s{i}": weekly_pattern(150, 100 * (i + 1), seed=i) for i in range(3)})

    result = forecast_series(frame, freq="D", season=7, horizon=28, windows=3,
                             methods=DAILY, baseline=BASELINE)

    assert result.windows == Windows(28, 3, 28)
    for uid, scores in result.scores.items():
        chosen = scores[result.chosen[uid]]
        assert chosen.mase == min(score.mase for score in scores.values())
        assert chosen.mase < 0.9 * scores[BASELINE].mase
        assert 0 <= chosen.smape <= 1 and 0 <= chosen.coverage_80 <= chosen.coverage_95 <= 1


def test_the_forecast_continues_each_series_with_ordered_intervals() -> None:
    frame = daily({"a": weekly_pattern(120, 50, seed=1), "b": weekly_pattern(120, 500, seed=2)})

    result = forecast_series(frame, freq="D", season=7, horizon=28, windows=3,
                             methods=DAILY, baseline=BASELINE)
    out = result.frame

    assert out.groupby("unique_id").size().to_dict() == {"a": 28, "b": 28}
    for _, rows in out.groupby("unique_id"):
        expected = pd.date_range(START + pd.Timedelta(days=120), periods=28, freq="D")
        assert list(rows["ds"]) == list(expected)
    assert (out["method"] == out["unique_id"].map(result.chosen)).all()
    lo95, lo80, hi80, hi95 = (out[name] for name in ("lo_95", "lo_80", "hi_80", "hi_95"))
    assert ((lo95 <= lo80) & (lo80 <= out["forecast"]) & (out["forecast"] <= hi80)
            & (hi80 <= hi95)).all()
    assert (out[["forecast", *BOUNDS]] >= 0).all().all()
    # The busy weekend of the history is in the forecast.
    weekend = out["ds"].dt.dayofweek >= 5
    b = out[out["unique_id"] == "b"]
    assert b[weekend[b.index]]["forecast"].mean() > 1.2 * b[~weekend[b.index]]["forecast"].mean()


def test_a_history_too_short_to_backtest_gets_the_baseline() -> None:
    frame = daily({"new": weekly_pattern(12, 30, seed=3)})

    result = forecast_series(frame, freq="D", season=7, horizon=28, windows=3,
                             methods=DAILY, baseline=BASELINE)

    assert result.windows is None and result.scores == {}
    assert result.chosen == {"new": BASELINE}
    assert len(result.frame) == 28
    # Seasonal naive repeats the last week.
    assert np.allclose(result.frame["forecast"][:7], frame["y"].to_numpy()[-7:])


def test_intermittent_demand_gets_a_rate_without_intervals() -> None:
    rng = np.random.default_rng(4)
    sales = rng.poisson(0.4, (5, 52)).astype(float)
    frame = pd.concat([pd.DataFrame({"unique_id": f"p{i}", "y": y,
                                     "ds": pd.date_range("2026-01-05", periods=52,
                                                         freq="W-MON")})
                       for i, y in enumerate(sales)], ignore_index=True)

    result = forecast_series(frame, freq="W-MON", season=1, horizon=8, windows=3,
                             methods=INTERMITTENT, baseline=BASELINE)

    assert result.windows == Windows(8, 3, 8)
    rated = result.frame[result.frame["method"] != BASELINE]
    assert len(rated) > 0  # a Croston-type method wins somewhere
    assert rated[list(BOUNDS)].isna().all().all()
    for uid, method in result.chosen.items():
        if method != BASELINE:
            assert result.scores[uid][method].coverage_80 is None
    # A rate: the same every week, between nothing and the busiest week.
    for _, rows in rated.groupby("unique_id"):
        assert rows["forecast"].nunique() == 1 and 0 < rows["forecast"].iloc[0] < 3


def test_a_series_that_never_sold_is_forecast_zero_without_a_scale() -> None:
    frame = daily({"flat": np.zeros(80), "busy": weekly_pattern(80, 40, seed=5)})

    result = forecast_series(frame, freq="D", season=7, horizon=28, windows=3,
                             methods=DAILY, baseline=BASELINE)

    assert all(score.mase is None for score in result.scores["flat"].values())
    flat = result.frame[result.frame["unique_id"] == "flat"]
    assert (flat["forecast"] == 0).all()


def test_the_baseline_must_be_a_candidate() -> None:
    with pytest.raises(ValueError, match="baseline"):
        forecast_series(daily({"a": np.ones(60)}), freq="D", season=7, horizon=7, windows=3,
                        methods=DAILY[1:], baseline=BASELINE)


def test_a_history_shorter_than_a_season_still_gets_numbers() -> None:
    """Three days of a new shop: seasonal naive has no week to repeat (it gave NULLs)."""
    frame = daily({"new": np.array([10.0, 12.0, 11.0])})

    result = forecast_series(frame, freq="D", season=7, horizon=28, windows=3,
                             methods=DAILY, baseline=BASELINE)

    assert result.frame["forecast"].notna().all()
    assert (result.frame["forecast"] == 11.0).all()  # the last day, carried on
