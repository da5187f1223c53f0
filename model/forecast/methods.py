"""The candidate methods: statsforecast's, chosen per series by the backtest.

Daily revenue is offered exponential smoothing, Theta, complex exponential smoothing, their
mean, and a seasonal-trend decomposition (MSTL, its trend carried by exponential
smoothing); steady sellers' weekly units exponential smoothing, Theta and their mean;
intermittent ones (many zero weeks) Croston, ADIDA and IMAPA. Seasonal naive is every
set's baseline, the yardstick MASE is measured against. AutoARIMA is left out: on
the simulated shop and on Online Retail it fitted about ten times slower than AutoETS and
was never better than the ensemble (Online Retail's daily revenue: mean MASE 1.228 against
AutoETS's 1.212 and MSTL's 1.202).
"""

from __future__ import annotations

from statsforecast.models import (
    ADIDA,
    IMAPA,
    MSTL,
    AutoCES,
    AutoETS,
    AutoTheta,
    CrostonOptimized,
    SeasonalNaive,
)

from model.forecast.backtest import Method

BASELINE = "seasonal_naive"

_SEASONAL_NAIVE = Method(BASELINE, lambda season: SeasonalNaive(season_length=season,
                                                                alias=BASELINE))
_AUTO_ETS = Method("auto_ets", lambda season: AutoETS(season_length=season, alias="auto_ets"))

_AUTO_THETA = Method("auto_theta", lambda season: AutoTheta(season_length=season,
                                                             alias="auto_theta"))

DAILY: tuple[Method, ...] = (
    _SEASONAL_NAIVE,
    _AUTO_ETS,
    _AUTO_THETA,
    Method("auto_ces", lambda season: AutoCES(season_length=season, alias="auto_ces")),
    Method("mstl", lambda season: MSTL(season_length=[season], alias="mstl")),
    Method("ensemble", members=("auto_ets", "auto_theta", "auto_ces")),
)
"""For daily revenue (a weekly season)."""

WEEKLY: tuple[Method, ...] = (
    _SEASONAL_NAIVE,
    _AUTO_ETS,
    _AUTO_THETA,
    Method("ensemble", members=("auto_ets", "auto_theta")),
)
"""For products that sell most weeks (AutoCES is left out: on short weekly series its fit
took seconds per series)."""

INTERMITTENT: tuple[Method, ...] = (
    _SEASONAL_NAIVE,
    Method("croston", lambda _: CrostonOptimized(alias="croston"), intervals=False),
    Method("adida", lambda _: ADIDA(alias="adida"), intervals=False),
    Method("imapa", lambda _: IMAPA(alias="imapa"), intervals=False),
)
"""For products with many weeks without a sale. Croston-type methods forecast a rate of
demand and give no intervals."""

INTERMITTENT_ADI = 1.32
"""Average interval between sales above which demand is intermittent (Syntetos & Boylan)."""
