"""OpenAPI descriptions of the problem responses routes can give."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

from app.errors import PROBLEM_MEDIA_TYPE

_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing or invalid API key",
    404: "Not found",
    409: "Conflict with the current state",
    422: "The request is not valid",
    503: "A dependency is unavailable",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for the given statuses, all with the problem body."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def created(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    """The `201` entry of a PUT that answers 201 when it created and 200 when it updated."""
    return {201: {"description": "Created", "model": model}}


def json_of(content: Any) -> Response:
    """A JSON answer of plain data that already has the shape of the route's response model.

    For the long list routes: validating a page of rows into models only to serialize them
    again costs more than the query. Datetimes come out as pydantic writes them (UTC as `Z`).
    """
    return Response(orjson.dumps(content, option=orjson.OPT_UTC_Z), media_type="application/json")
