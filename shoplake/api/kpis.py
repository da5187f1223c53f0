"""GET /api/kpis and GET /api/kpis/{name}: the KPIs, read from the curated tables."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.datastructures import QueryParams

from shared.analytics import KPIS, KpiError, KpiFilters, KpiSpec
from shoplake.api.deps import services_of
from shoplake.api.errors import ErrorReport, invalid_request

router = APIRouter(tags=["kpis"])

QUERY_PARAMETERS = frozenset({"from", "to", "category", "limit"})
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
FUNCTION_KEY = "code"
"""Azure Functions takes the function key as `?code=`: never an unknown filter."""
MAX_LIMIT = max(spec.limit.max for spec in KPIS.values() if spec.limit)


class KpiDescription(BaseModel):
    name: str
    title: str
    description: str
    filters: list[str]
    limit: dict[str, int] | None = Field(description="`default` and `max`, for KPIs that "
                                         "take a limit.")
    columns: dict[str, str] = Field(description="Each column of its rows, in order.")


class Period(BaseModel):
    label: str
    from_: date = Field(alias="from")
    to: date


class KpiList(BaseModel):
    kpis: list[KpiDescription]
    categories: list[str] = Field(description="Valid values of the `category` filter.")
    dates: dict[str, date | None] = Field(description="The data's `first` and `last` day.")
    periods: list[Period] = Field(description="Periods ending on the data's last day.")
    as_of: dict[str, int] = Field(description="Delta version of each table read (-1: none).")


class KpiAnswer(BaseModel):
    kpi: str
    title: str
    filters: dict[str, Any] = Field(description="The filters applied, defaults filled in: "
                                    "`from` and `to` default to the data's first and last day.")
    as_of: dict[str, int] = Field(description="The Delta version of each table the answer "
                                  "was computed from (-1: the table does not exist yet, or "
                                  "could not be read); for `ingest_log`, ingestion's records, "
                                  "a count of their changes this process has seen.")
    rows: list[dict[str, Any]]


class KpiErrorReport(ErrorReport):
    problems: list[dict[str, str]]
    valid: dict[str, Any] = Field(description="What would have been accepted.")


def _example(spec: KpiSpec) -> dict[str, Any]:
    return {"kpi": spec.name, "title": spec.title,
            "filters": {"from": "2026-11-01", "to": "2026-11-25", "category": None,
                        "limit": spec.limit.default if spec.limit else None},
            "as_of": dict.fromkeys(spec.reads, 3), "rows": [spec.example]}


_ERRORS = {400: {"model": KpiErrorReport,
                 "description": "Unknown KPI, an unknown filter, or a filter with a bad value"}}


@router.get("/kpis", response_model=KpiList, summary="The KPIs, categories and dates",
            description="Every KPI with its filters and columns; the categories and the data's "
                        "first and last day, to build filters from.")
def list_kpis(request: Request) -> Response:
    return _json(services_of(request).kpis.overview())


@router.get(
    "/kpis/{name:whole_id}", response_model=KpiAnswer, summary="One KPI", responses={
        **_ERRORS, 200: {"content": {"application/json": {"examples": {
            spec.name: {"summary": spec.title, "value": _example(spec)}
            for spec in KPIS.values()}}}}},
    description="The KPI's rows for a period (`from`, `to`: both days included) and, where "
                "the KPI takes them, a `category` and a `limit`. Answers are computed from the "
                "curated tables' latest versions.")
def get_kpi(
    request: Request,
    name: Annotated[str, Path(description="One of: " + ", ".join(KPIS),
                              openapi_examples={n: {"value": n} for n in KPIS})],
    from_: Annotated[str | None, Query(alias="from", description="First day (YYYY-MM-DD).",
                                       json_schema_extra={"format": "date"},
                                       examples=["2026-11-01"])] = None,
    to: Annotated[str | None, Query(description="Last day (YYYY-MM-DD).",
                                    json_schema_extra={"format": "date"},
                                    examples=["2026-11-25"])] = None,
    category: Annotated[str | None, Query(description="One of the categories of GET "
                                          "/api/kpis.", examples=["Kitchen"])] = None,
    limit: Annotated[str | None, Query(description="How many rows, for KPIs that rank "
                                       f"(1 to at most {MAX_LIMIT}).",
                                       json_schema_extra={"type": "integer", "minimum": 1},
                                       examples=["10"])] = None,
) -> Response:
    # Parsed here, not by FastAPI, so every bad filter gets the same answer: what is wrong
    # and what would be valid.
    reader = services_of(request).kpis
    try:
        filters = _filters(name, request.query_params, from_, to, category, limit)
        return _json(reader.answer(name, filters))
    except KpiError as error:
        raise HTTPException(400, {**invalid_request(error.problems), "message": str(error),
                                  "valid": error.valid}) from None


def _filters(name: str, query: QueryParams, from_: str | None, to: str | None,
             category: str | None, limit: str | None) -> KpiFilters:
    problems = [(f"query.{p}", "no such filter")
                for p in sorted(set(query) - QUERY_PARAMETERS - {FUNCTION_KEY})]
    problems += [(f"query.{p}", "given more than once") for p in sorted(QUERY_PARAMETERS)
                 if len(query.getlist(p)) > 1]
    days: list[date | None] = []
    for where, text in (("from", from_), ("to", to)):
        # date.fromisoformat also takes 20261005 and 2026-W41: only YYYY-MM-DD is documented.
        day = _day(text) if text is not None and ISO_DATE.fullmatch(text) else None
        if text is not None and day is None:
            problems.append((f"query.{where}", f"{text!r} is not a date (YYYY-MM-DD)"))
        days.append(day)
    count = None
    if limit is not None:
        if limit.isascii() and limit.isdigit() and len(limit) < 6:
            count = int(limit)
        else:
            problems.append(("query.limit", f"{limit!r} is not a whole number"))
    if problems:
        spec = KPIS.get(name)
        raise KpiError("the filters are not valid", problems, {
            "filters": list(spec.filters) if spec else sorted(QUERY_PARAMETERS),
            "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"})
    return KpiFilters(days[0], days[1], category, count)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")
