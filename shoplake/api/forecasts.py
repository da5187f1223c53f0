"""GET /api/forecasts/revenue, GET /api/forecasts/units and GET /api/customers/{id}/value:
the nightly run's predictions, as `model.predictions` serves them from the curated tables.

Status codes: 200; 400 (`invalid_request`: a bad value, an unknown or repeated query
parameter); 404 for what has no prediction: a category, product or customer the run did not
predict (a category's 404 lists the forecast ones), and every route before the first run
(the table does not exist yet). No prediction is a 404, not recommendations' 503 for no
model: the service is up, the resource does not exist yet, and asking again will not help
until the nightly run (or `shoplake forecast`) has written it. 503 only when a table exists
but cannot be read (damaged, or storage failing) and no earlier version of it was read;
once one was, it is served meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from model.forecast.tables import BOUNDS
from model.predictions import NoPredictionsError, UnknownKeyError, UnreadablePredictionsError
from shoplake.api.deps import services_of
from shoplake.api.errors import ErrorReport, invalid_request
from shoplake.api.recommendations import ID_PATTERN
from shoplake.prediction_answers import revenue_forecast_answer

router = APIRouter(tags=["predictions"])

FUNCTION_KEY = "code"
"""Azure Functions takes the function key as `?code=`: never an unknown parameter."""
MAX_CATEGORY = 256
CATEGORY_PATTERN = rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]{{1,{MAX_CATEGORY}}}$"
"""Categories are catalogue text: a line break (CR, LF) or a tab may be part of one (a
quoted CSV field, Alt+Enter in Excel), other control characters never are."""

Bound = Annotated[float | None, Field(description="Prediction interval bound; null for "
                                      "methods without intervals (Croston-type).")]
Point = Annotated[float | None, Field(description="The forecast; null where the method had "
                                      "too little history (seasonal naive, less than a "
                                      "season).")]


class Backtest(BaseModel):
    """How the served method did on the series' own recent history (the nightly backtest,
    over rolling windows); null where the series was too short to backtest, or the method
    gives no intervals."""

    mase: float | None = Field(description="Mean absolute scaled error of the served method "
                               "(its error over the in-sample error of a seasonal naive "
                               "forecast; lower is better).")
    baseline_mase: float | None = Field(description="The seasonal-naive baseline's MASE on "
                                        "the same windows.")
    coverage_80: float | None = Field(description="Share of actual values inside the 80% "
                                      "interval.")
    coverage_95: float | None = Field(description="Share of actual values inside the 95% "
                                      "interval.")


class RevenueDay(BaseModel):
    date: dt.date
    revenue: Point
    lo_80: Bound
    hi_80: Bound
    lo_95: Bound
    hi_95: Bound


class RevenueForecast(BaseModel):
    category: str | None = Field(description="null: the whole shop.")
    as_of: dt.date = Field(description="The last day of sales the forecast was made from.")
    model_version: str = Field(description="The forecast run (its record is "
                               "models/forecasts/<model_version>.json).")
    method: str = Field(description="The method the backtest chose for this series.")
    backtest: Backtest
    days: list[RevenueDay]


class UnitsWeek(BaseModel):
    week_start: dt.date = Field(description="The Monday the week starts.")
    units: Point
    lo_80: Bound
    hi_80: Bound
    lo_95: Bound
    hi_95: Bound


class UnitsForecast(BaseModel):
    product_id: str
    as_of: dt.date
    model_version: str
    method: str
    demand: Literal["smooth", "intermittent"] = Field(
        description="`intermittent`: many weeks without a sale (Croston-type methods).")
    backtest: Backtest
    weeks: list[UnitsWeek]


class CustomerValue(BaseModel):
    customer_id: str
    expected_purchases_90d: float
    expected_purchases_365d: float
    probability_alive: float = Field(description="That the customer has not lapsed (BG/NBD).")
    expected_order_value: float = Field(description="Expected value of a purchase "
                                        "(Gamma-Gamma).")
    predicted_value_12m: float = Field(description="Discounted value of the next 12 months.")
    at_risk: bool = Field(description="probability_alive below CUSTOMER_AT_RISK_BELOW.")
    orders: int
    revenue: float = Field(description="Revenue so far.")
    first_purchase: dt.date
    last_purchase: dt.date
    model_version: str
    as_of: dt.date = Field(description="The last day of sales the values were predicted from.")


class Problem(BaseModel):
    where: str = Field(examples=["query.product_id"])
    message: str


class InvalidRequestReport(ErrorReport):
    problems: list[Problem]


class UnknownCategoryReport(ErrorReport):
    categories: list[str] | None = Field(None, description="The forecast categories, when "
                                         "the category was not one of them.")


_NO_PREDICTIONS = "or nothing predicted yet (the nightly run, or `shoplake forecast`, writes it)"
_ERRORS = {
    400: {"model": InvalidRequestReport, "description": "A bad value, an unknown query "
          "parameter, or one given more than once"},
    503: {"model": ErrorReport, "description": "The table cannot be read (damaged, or "
          "storage failing) and this worker has not read it before"},
}


@router.get("/forecasts/revenue", response_model=RevenueForecast,
            summary="Revenue forecast, per day", responses={**_ERRORS, 404: {
                "model": UnknownCategoryReport,
                "description": f"A category without a forecast (the known ones are listed), "
                               f"{_NO_PREDICTIONS}"}},
            description="The days ahead for the whole shop or one category, with 80% and 95% "
                        "prediction intervals, the method chosen for the series and its "
                        "backtest.")
async def revenue_forecast(
    request: Request,
    category: Annotated[str | None, Query(
        pattern=CATEGORY_PATTERN, examples=["Kitchen"],
        description="A category (one of GET /api/kpis's `categories`); without it, the "
                    "whole shop.")] = None,
) -> Response:
    refuse_odd_parameters(request.query_params, {"category"})
    predictions = services_of(request).predictions

    def answer() -> dict[str, Any]:
        try:
            return revenue_forecast_answer(predictions, category)
        except UnknownKeyError as error:
            raise HTTPException(404, {"message": str(error), "categories":
                                      predictions.revenue_categories()}) from None

    return await prediction_response(answer)


@router.get("/forecasts/units", response_model=UnitsForecast,
            summary="Units forecast for a product, per week",
            responses={**_ERRORS, 404: {
                "model": ErrorReport,
                "description": f"A product without a forecast (only the best sellers that "
                               f"make up most units are forecast), {_NO_PREDICTIONS}"}},
            description="The weeks ahead (Monday to Sunday) for a best-selling product, with "
                        "prediction intervals where the method gives them, its demand pattern, "
                        "method and backtest.")
async def units_forecast(
    request: Request,
    product_id: Annotated[str, Query(pattern=ID_PATTERN, examples=["P00017"])],
) -> Response:
    refuse_odd_parameters(request.query_params, {"product_id"})
    predictions = services_of(request).predictions

    def answer() -> dict[str, Any]:
        rows = predictions.units_forecast(product_id)
        first = rows[0]
        return {"product_id": product_id, "as_of": first["as_of"],
                "model_version": first["model_version"], "method": first["method"],
                "demand": first["demand"], "backtest": predictions.units_backtest(product_id),
                "weeks": [{"week_start": row["week_start"], "units": row["units"],
                           **{bound: row[bound] for bound in BOUNDS}} for row in rows]}

    return await prediction_response(answer)


@router.get("/customers/{customer_id:whole_id}/value", response_model=CustomerValue,
            summary="A customer's predicted value",
            responses={**_ERRORS, 404: {
                "model": ErrorReport,
                "description": f"A customer without a prediction (customers are valued once "
                               f"they have bought), {_NO_PREDICTIONS}"}},
            description="Purchases to expect, the probability that the customer is still "
                        "active, and the value of their next 12 months (BG/NBD and "
                        "Gamma-Gamma, fitted nightly).")
async def customer_value(
    request: Request,
    customer_id: Annotated[str, Path(pattern=ID_PATTERN, examples=["C00042"])],
) -> Response:
    if not request.scope["path"].endswith("/value"):
        # A route's `$` also matches before a final newline: ".../value%0A" is not this route.
        raise HTTPException(404, {"message": "Not Found"})
    refuse_odd_parameters(request.query_params, set())
    predictions = services_of(request).predictions

    def answer() -> dict[str, Any]:
        row = predictions.customer_value(customer_id)
        return {name: row[name] for name in CustomerValue.model_fields}

    return await prediction_response(answer)


def refuse_odd_parameters(query: QueryParams, parameters: set[str]) -> None:
    """400 for a query parameter the route does not take, or one given twice (a proxy or
    cache keyed on one value would see another request than the one answered)."""
    problems = [(f"query.{name}", "no such parameter")
                for name in sorted(set(query) - parameters - {FUNCTION_KEY})]
    problems += [(f"query.{name}", "given more than once") for name in sorted(parameters)
                 if len(query.getlist(name)) > 1]
    if problems:
        raise HTTPException(400, invalid_request(problems))


async def prediction_response(answer: Callable[[], dict[str, Any]]) -> Response:
    """The answer as JSON. Reading runs in the threadpool: a table loads on first use and
    its Delta version is checked every MODEL_RELOAD_SECONDS (storage calls); otherwise it is
    a lookup in memory."""
    try:
        body = await run_in_threadpool(answer)
    except (NoPredictionsError, UnknownKeyError) as error:
        raise HTTPException(404, {"message": str(error)}) from None
    except UnreadablePredictionsError as error:
        raise HTTPException(503, {"message": str(error)}) from None
    # NaN (no value) is written as null, dates as YYYY-MM-DD.
    return Response(orjson.dumps(body), media_type="application/json")
