"""GET /api/customers/at-risk: the most valuable customers who have likely stopped buying,
from the nightly run's customer values (`curated/customer_value`).

Status codes as GET /api/customers/{id}/value's (shoplake.api.forecasts): 200; 400
(`invalid_request`: a limit out of 1..100 or not a number, an unknown or repeated query
parameter); 404 before the first customer-value run (the table does not exist yet); 503 when
the table cannot be read and no earlier version of it was read.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from shoplake.api.deps import services_of
from shoplake.api.errors import ErrorReport
from shoplake.api.forecasts import (
    InvalidRequestReport,
    prediction_response,
    refuse_odd_parameters,
)
from shoplake.prediction_answers import at_risk_answer

router = APIRouter(tags=["predictions"])

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


class AtRiskCustomer(BaseModel):
    customer_id: str
    revenue: float = Field(description="Revenue so far.")
    orders: int
    first_purchase: dt.date
    last_purchase: dt.date
    probability_alive: float = Field(description="That the customer has not lapsed (BG/NBD); "
                                     "below CUSTOMER_AT_RISK_BELOW for every one listed.")
    expected_purchases_90d: float
    predicted_value_12m: float = Field(description="Discounted value of the next 12 months.")


class AtRiskCustomers(BaseModel):
    as_of: dt.date | None = Field(description="The last day of sales the values were predicted "
                                  "from; null when the run valued no customer.")
    model_version: str | None = Field(description="The customer-value run.")
    customers_valued: int = Field(description="Customers the run valued (those who bought).")
    customers_at_risk: int = Field(description="Of those, how many are at risk.")
    customers: list[AtRiskCustomer] = Field(description="The `limit` customers at risk with "
                                            "the most revenue so far, highest first.")


@router.get("/customers/at-risk", response_model=AtRiskCustomers,
            summary="The most valuable customers at risk",
            responses={
                400: {"model": InvalidRequestReport, "description": "A limit out of range or "
                      "not a number, an unknown query parameter, or one given more than once"},
                404: {"model": ErrorReport, "description": "No customer values yet (the "
                      "nightly run, or `shoplake forecast`, writes them)"},
                503: {"model": ErrorReport, "description": "The table cannot be read "
                      "(damaged, or storage failing) and this worker has not read it before"}},
            description="Customers whose probability of still being active is below "
                        "CUSTOMER_AT_RISK_BELOW, most revenue so far first: whom a win-back "
                        "campaign should reach first.")
async def at_risk_customers(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many customers.")
                     ] = DEFAULT_LIMIT,
) -> Response:
    refuse_odd_parameters(request.query_params, {"limit"})
    predictions = services_of(request).predictions

    def answer() -> dict[str, Any]:
        return at_risk_answer(predictions, limit)

    return await prediction_response(answer)
