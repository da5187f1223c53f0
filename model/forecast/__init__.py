"""Forecasts: revenue per category per day and units per best seller per week, each series'
method chosen by a rolling-origin backtest (statsforecast's methods)."""
