"""GET /api/recommendations/{customer_id} and POST /api/recommendations (anonymous sessions)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from model.serving import NoModelError, Recommendations
from shared.api.deps import services_of
from shared.api.events import ErrorReport

router = APIRouter(tags=["recommendations"])

MAX_K = 100
MAX_SESSION_ITEMS = 500
# Ids are free text in the event contract (at most 64 characters); control characters
# never belong in one.
ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"

ProductId = Annotated[str, Field(pattern=ID_PATTERN, examples=["P00017"])]
TopK = Annotated[int, Query(ge=1, le=MAX_K, description="How many products per list.")]


class Product(BaseModel):
    product_id: str
    name: str | None
    category: str | None
    unit_price: float | None
    currency: str | None
    score: float = Field(description="new_for_you: the model's score; buy_again: times "
                         "bought; popular answers: buyers relative to the best seller's.")


class RecommendationsReport(BaseModel):
    model_version: str
    source: Literal["personal", "popular"] = Field(
        description="`popular` when nothing is known about the shopper: best sellers.")
    new_for_you: list[Product]
    buy_again: list[Product]
    unknown_items: list[str] = Field(description="Requested products the model does not "
                                     "know (too new, or not in the catalogue); ignored.")


class SessionRequest(BaseModel):
    items: list[ProductId] = Field(max_length=MAX_SESSION_ITEMS,
                                   description="Products the shopper viewed, carted or "
                                   "bought in this session (left out of the answer).")
    k: int = Field(10, ge=1, le=MAX_K)


_ERRORS = {
    400: {"model": ErrorReport, "description": "Bad customer id, product id or k"},
    503: {"model": ErrorReport, "description": "No model has been trained yet"},
}


# `:path`, because ids may hold "/": sent as %2F, it arrives decoded, and a plain parameter
# (one path segment) would answer such a customer 404.
@router.get("/recommendations/{customer_id:path}", response_model=RecommendationsReport,
            summary="Recommendations for a customer", responses=_ERRORS,
            description="The champion model scores the customer's purchase history merged "
            "with their live profile (what they viewed, carted and bought since the last "
            "training). Unknown customers get popular products, labelled `popular`.")
def customer_recommendations(
    request: Request,
    customer_id: Annotated[str, Path(pattern=ID_PATTERN, examples=["C00042"])],
    k: TopK = 10,
) -> RecommendationsReport:
    recommender = services_of(request).recommender
    return _report(lambda: recommender.for_customer(customer_id, k))


@router.post("/recommendations", response_model=RecommendationsReport,
             summary="Recommendations for an anonymous session", responses=_ERRORS,
             description="Scores the products of a session nobody is signed in to; an empty "
             "list gets popular products.")
def session_recommendations(request: Request, body: SessionRequest) -> RecommendationsReport:
    recommender = services_of(request).recommender
    return _report(lambda: recommender.for_items(body.items, body.k))


def _report(answer: Callable[[], Recommendations]) -> RecommendationsReport:
    try:
        result = answer()
    except NoModelError as error:
        raise HTTPException(503, {"message": str(error)}) from None
    return RecommendationsReport.model_validate(asdict(result))
