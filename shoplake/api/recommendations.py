"""GET /api/recommendations/{customer_id} and POST /api/recommendations (anonymous sessions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from model.serving import NoModelError, Recommendations, Recommender
from shoplake.api.deps import LimitedBodyRoute, services_of
from shoplake.api.errors import ErrorReport, error_body, invalid_request

router = APIRouter(tags=["recommendations"], route_class=LimitedBodyRoute)

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


@router.get("/recommendations/{customer_id:whole_id}", response_model=RecommendationsReport,
            summary="Recommendations for a customer", responses=_ERRORS,
            description="The champion model scores the customer's purchase history merged "
            "with their live profile (what they viewed, carted and bought since the last "
            "training). Unknown customers get popular products, labelled `popular`.")
async def customer_recommendations(
    request: Request,
    customer_id: Annotated[str, Path(pattern=ID_PATTERN, examples=["C00042"])],
    k: TopK = 10,
) -> Response:
    recommender = services_of(request).recommender
    # Reading a live profile is a storage call: those requests keep the threadpool.
    in_memory = recommender.loaded() and recommender.profiles is None
    return await _report(lambda: recommender.for_customer(customer_id, k), in_memory)


@router.post("/recommendations", response_model=RecommendationsReport,
             summary="Recommendations for an anonymous session",
             responses={**_ERRORS, 413: {"model": ErrorReport,
                                         "description": "Body larger than MAX_REQUEST_BYTES"}},
             description="Scores the products of a session nobody is signed in to; an empty "
             "list gets popular products.")
async def session_recommendations(request: Request, body: SessionRequest) -> Response:
    recommender = services_of(request).recommender
    return await _report(lambda: recommender.for_items(body.items, body.k),
                         recommender.loaded())


async def _report(answer: Callable[[], Recommendations], in_memory: bool) -> Response:
    """The answer as JSON. Scoring from memory is short and CPU-bound, so it runs on the
    event loop (a threadpool hop costs more than the scoring at 5k items); anything that
    reads storage (the pointer check, a model load, live profiles) runs in the threadpool so
    that it never blocks the loop."""
    try:
        result = answer() if in_memory else await run_in_threadpool(answer)
    except NoModelError as error:
        raise HTTPException(503, {"message": str(error)}) from None
    # `Recommendations` has RecommendationsReport's fields in its order: orjson writes the
    # same JSON without validating the answer twice (response_model stays, for the OpenAPI
    # document; the API tests check answers against it).
    return Response(orjson.dumps(result), media_type="application/json")


_CUSTOMER_ID = TypeAdapter(Annotated[str, Field(pattern=ID_PATTERN)])
_K = TypeAdapter(Annotated[int, Field(ge=1, le=MAX_K)])


def customer_recommendations_json(recommender: Recommender, customer_id: str,
                                  k: str | None) -> tuple[int, bytes]:
    """GET /api/recommendations/{customer_id} without FastAPI, for the Functions route that
    serves it directly (FastAPI and its adapter cost about 0.2 ms a request): the same
    pydantic types validate the same way, and answers and errors are the same JSON."""
    problems, valid = [], []
    for where, adapter, value in (("path.customer_id", _CUSTOMER_ID, customer_id),
                                  ("query.k", _K, "10" if k is None else k)):
        try:
            valid.append(adapter.validate_python(value))
        except ValidationError as error:
            problems += [(where, e["msg"]) for e in error.errors()]
    if problems:
        return 400, orjson.dumps(invalid_request(problems))
    try:
        result = recommender.for_customer(*valid)
    except NoModelError as error:
        return 503, orjson.dumps(error_body(503, str(error)))
    return 200, orjson.dumps(result)
