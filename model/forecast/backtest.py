"""Rolling-origin backtests that choose each series' method, then the forecast itself.

Every candidate (statsforecast's implementations, and ensembles of them) is fitted on every
series at each of a few cutoffs and scored on the horizon after it: MASE (mean absolute
error over the in-sample seasonal-naive error, `utilsforecast`'s), sMAPE and the empirical
coverage of the 80% and 95% intervals. Each series keeps the method with the lowest mean
MASE over the windows; then the chosen methods are fitted on the whole history.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import Naive, SeasonalNaive
from utilsforecast.losses import coverage, mae, mase, smape

from model.forecast.tables import BOUNDS, LEVELS

ID, TIME, TARGET = "unique_id", "ds", "y"


@dataclass(frozen=True)
class Method:
    """A candidate: a statsforecast model (built for the series' season, aliased `name`),
    or the mean of other candidates' forecasts and bounds (`members`)."""

    name: str
    build: Callable[[int], Any] | None = None
    members: tuple[str, ...] = ()
    intervals: bool = True
    """Whether the model gives prediction intervals."""


@dataclass(frozen=True)
class Windows:
    """The backtest: `windows` cutoffs `step` apart, each scored on `horizon` points."""

    horizon: int
    windows: int
    step: int


@dataclass(frozen=True)
class Score:
    """A method's backtest on one series (means over the windows)."""

    mase: float | None
    smape: float
    mae: float
    coverage_80: float | None
    coverage_95: float | None


@dataclass
class Forecasts:
    """The forecast of a set of series and the evidence for each series' method."""

    frame: pd.DataFrame
    """unique_id, ds, forecast, lo_80, hi_80, lo_95, hi_95, method."""
    chosen: dict[str, str]
    windows: Windows | None
    scores: dict[str, dict[str, Score]] = field(default_factory=dict)
    """Per series, every candidate's backtest score (empty when there was no backtest)."""


def plan_windows(length: int, horizon: int, windows: int, season: int) -> Windows | None:
    """Windows as long as the horizon and as far apart (the textbook); with less history,
    closer (overlapping) cutoffs, then shorter windows; None when even one point after two
    seasons of training would not fit."""
    min_train = max(2 * season, 8)
    room = length - min_train
    if room >= horizon + (windows - 1) * horizon:
        return Windows(horizon, windows, horizon)
    if room >= horizon + (windows - 1):
        return Windows(horizon, windows, max(1, (room - horizon) // max(1, windows - 1)))
    if room >= windows:
        return Windows(room - (windows - 1), windows, 1)
    return None


def forecast_series(frame: pd.DataFrame, *, freq: str, season: int, horizon: int,
                    windows: int, methods: Sequence[Method], baseline: str,
                    nonnegative: bool = True) -> Forecasts:
    """Backtest `methods` on every series of `frame` (unique_id, ds, y: one complete,
    equally long grid per series), choose one per series, and forecast `horizon` ahead."""
    by_name = {method.name: method for method in methods}
    if baseline not in by_name:
        raise ValueError(f"the baseline {baseline!r} is not among the methods")
    ids = list(pd.unique(frame[ID]))
    length = int(frame.groupby(ID, sort=False).size().min())
    if length < season:  # not one season yet: nothing seasonal to learn or to repeat
        season = 1
    plan = plan_windows(length, horizon, windows, season)
    scores: dict[str, dict[str, Score]] = {}
    if plan is None:
        chosen = dict.fromkeys(ids, baseline)
    else:
        backtest = _run(frame, by_name, list(by_name), season, freq, plan.horizon,
                        cv=plan)
        scores = _scores(backtest, frame, list(by_name), season)
        chosen = {uid: _best(scores[uid], order=list(by_name)) for uid in ids}
    final = _run(frame, by_name, sorted(set(chosen.values())), season, freq, horizon)
    return Forecasts(_pick(final, chosen, nonnegative), chosen, plan, scores)


def _run(frame: pd.DataFrame, by_name: dict[str, Method], names: Sequence[str], season: int,
         freq: str, horizon: int, cv: Windows | None = None) -> pd.DataFrame:
    """statsforecast's cross-validation (`cv`) or forecast for `names` (ensembles from
    their members), one column per method and bound, as `<name>`, `<name>-lo-80`, …"""
    fitted = sorted({member for name in names
                     for member in (by_name[name].members or (name,))})
    keys = [ID, TIME] if cv is None else [ID, TIME, "cutoff", TARGET]
    result: pd.DataFrame | None = None
    # statsforecast asks every model of a run for the levels: those without intervals
    # (Croston-type) run apart, without levels.
    for intervals in (True, False):
        models = [by_name[name].build(season) for name in fitted
                  if by_name[name].intervals == intervals]
        if not models:
            continue
        part = _statsforecast(frame, models, season, freq, horizon, cv,
                              list(LEVELS) if intervals else None)
        result = part if result is None else result.merge(part, on=keys, validate="1:1")
    assert result is not None
    for name in names:
        members = by_name[name].members
        if members:
            for suffix in ("", *(f"-{side}-{level}" for level in LEVELS
                                 for side in ("lo", "hi"))):
                columns = [f"{member}{suffix}" for member in members]
                result[f"{name}{suffix}"] = (result[columns].mean(axis=1)
                                             if all(c in result for c in columns) else np.nan)
    return result


def _statsforecast(frame: pd.DataFrame, models: list[Any], season: int, freq: str,
                   horizon: int, cv: Windows | None, levels: list[int] | None
                   ) -> pd.DataFrame:
    fallback = SeasonalNaive(season_length=season) if season > 1 else Naive()
    engine = StatsForecast(models=models, freq=freq, n_jobs=1, fallback_model=fallback)
    with warnings.catch_warnings():  # statsforecast warns per series it could not fit well
        warnings.simplefilter("ignore")
        if cv is None:
            result = engine.forecast(df=frame, h=horizon, level=levels)
        else:
            result = engine.cross_validation(df=frame, h=cv.horizon, n_windows=cv.windows,
                                             step_size=cv.step, level=levels)
    return result.reset_index() if ID not in result.columns else result


def _scores(backtest: pd.DataFrame, frame: pd.DataFrame, names: list[str], season: int
            ) -> dict[str, dict[str, Score]]:
    """Every method's mean score over the windows, per series."""
    for name in names:  # a method without intervals (Croston) gets no coverage
        for level in LEVELS:
            for side in ("lo", "hi"):
                if f"{name}-{side}-{level}" not in backtest:
                    backtest[f"{name}-{side}-{level}"] = np.nan
    per_window = {
        "mase": mase(backtest, names, season, frame),
        "smape": smape(backtest, names),
        "mae": mae(backtest, names),
        **{f"coverage_{level}": coverage(backtest, names, level) for level in LEVELS},
    }
    means = {metric: table.groupby(ID)[names].mean() for metric, table in per_window.items()}
    has_bounds = {name: backtest[f"{name}-lo-80"].notna().all() for name in names}
    return {uid: {name: Score(
        mase=_finite(means["mase"].at[uid, name]),
        smape=float(means["smape"].at[uid, name]),
        mae=float(means["mae"].at[uid, name]),
        coverage_80=float(means["coverage_80"].at[uid, name]) if has_bounds[name] else None,
        coverage_95=float(means["coverage_95"].at[uid, name]) if has_bounds[name] else None)
        for name in names} for uid in means["mae"].index}


def _finite(value: float) -> float | None:
    """MASE is undefined for a series that never changed in training (a zero scale)."""
    return float(value) if math.isfinite(value) else None


def _best(scores: dict[str, Score], order: list[str]) -> str:
    """Lowest MASE; by MAE where MASE is undefined; ties go to the earlier (simpler)
    method."""
    if all(score.mase is not None for score in scores.values()):
        return min(order, key=lambda name: (scores[name].mase, order.index(name)))
    return min(order, key=lambda name: (scores[name].mae, order.index(name)))


def _pick(final: pd.DataFrame, chosen: dict[str, str], nonnegative: bool) -> pd.DataFrame:
    """Each series' rows from its chosen method's columns, in one tidy frame."""
    parts = []
    for method, group in final.groupby(final[ID].map(chosen), sort=False):
        columns = {method: "forecast", **{f"{method}-{side}-{level}": f"{side}_{level}"
                                          for level in LEVELS for side in ("lo", "hi")}}
        part = group[[ID, TIME]].copy()
        for source, target in columns.items():
            part[target] = group.get(source, np.nan)
        part["method"] = method
        parts.append(part)
    tidy = pd.concat(parts, ignore_index=True)
    values = ["forecast", *BOUNDS]
    if nonnegative:  # demand and sales are never below zero
        tidy[values] = tidy[values].clip(lower=0)
    return tidy.sort_values([ID, TIME], ignore_index=True)
