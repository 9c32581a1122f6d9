"""FastAPI's request validation errors as one `422 validation_failed` problem.

Each problem becomes an `errors[]` item; a body field the model does not have is named
(`extra_forbidden`), with the likeliest intended field in `fix`, so a misspelt setting is
never silently ignored. A body of many unknown keys (hundreds of thousands fit in the body
limit) must cost no seconds of event loop and echo no megabytes back: the answer lists the
first `MAX_PROBLEMS` problems (its detail says how many more), suggests names for the first
`MAX_SUGGESTIONS` unknown fields only, and clips every name and message it repeats.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, get_args

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.errors import AppError, ProblemItem, problem_response

MAX_PROBLEMS = 50
MAX_SUGGESTIONS = 20
_MAX_ECHO = 80  # characters of a client's name repeated in a loc or message
_MAX_MESSAGE = 300
_MAX_SUGGESTED_NAME = 64  # a longer name is no typo of a field; difflib is not run on it


def _only_model(annotation: Any) -> type[BaseModel] | None:
    """The one model `annotation` holds (`X`, `X | None`, `list[X]` …), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    found = {model for arg in get_args(annotation) if (model := _only_model(arg))}
    return found.pop() if len(found) == 1 else None


def _fields_around(request: Request, loc: Sequence[str | int]) -> list[str]:
    """The field names beside `loc` in the route's body model ([] when unknown)."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    model = _only_model(body_field.field_info.annotation) if body_field else None
    for part in loc[1:-1]:  # after "body"; list indexes pass through
        if isinstance(part, str):
            field = model.model_fields.get(part) if model else None
            model = _only_model(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _clip(text: str, limit: int = _MAX_ECHO) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _unknown_field(
    name: str, loc: list[str | int], fields: Sequence[str], *, suggest: bool
) -> ProblemItem:
    """The body field `name` (at `loc`, clipped) the model does not have, with the likeliest
    intended one among `fields` when `suggest` and the name is short enough to be a typo."""
    close = (
        difflib.get_close_matches(name, fields, n=1)
        if suggest and len(name) <= _MAX_SUGGESTED_NAME
        else []
    )
    fix = f"Did you mean '{close[0]}'? " if close else ""
    return ProblemItem(
        code="extra_forbidden",
        message=f"Unknown field '{_clip(name)}': this request has no such field.",
        loc=loc,
        fix=fix + "Remove the field or correct its name (see openapi.yaml).",
    )


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """422 `validation_failed` listing the first `MAX_PROBLEMS` problems (the detail says
    how many more there are); unknown body fields get a suggestion, the first
    `MAX_SUGGESTIONS` of them."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    items = []
    suggestions = 0
    fields_at: dict[tuple[str | int, ...], list[str]] = {}  # one model walk per parent
    for err in errors[:MAX_PROBLEMS]:
        raw = [part if isinstance(part, int) else str(part) for part in err.get("loc", ())]
        loc = [part if isinstance(part, int) else _clip(part) for part in raw]
        if err.get("type") == "extra_forbidden" and raw[:1] == ["body"]:
            suggest = suggestions < MAX_SUGGESTIONS
            suggestions += suggest
            parent = tuple(raw[:-1])
            if suggest and parent not in fields_at:
                fields_at[parent] = _fields_around(request, raw)
            fields = fields_at.get(parent, [])
            items.append(_unknown_field(str(raw[-1]), loc, fields, suggest=suggest))
            continue
        items.append(
            ProblemItem(
                code=_clip(str(err.get("type", "invalid"))),
                message=_clip(str(err.get("msg", "invalid value")), _MAX_MESSAGE),
                loc=loc,
            )
        )
    more = len(errors) - len(items)
    detail = "The request is not valid; see errors for each problem."
    if more:
        detail = (
            f"The request is not valid: {len(errors)} problems; errors lists the first "
            f"{len(items)} ({more} more not listed)."
        )
    return problem_response(AppError("validation_failed", detail, status=422, errors=items))
