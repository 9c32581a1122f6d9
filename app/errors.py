"""One error shape for every 4xx/5xx: `application/problem+json` (RFC 9457) with a stable code.

    {"type": "urn:directo-gateway:problem:not_found", "title": "Not Found", "status": 404,
     "detail": "…", "code": "not_found",
     "errors": [{"loc": [...], "code": "...", "message": "...", "fix": "..."}],
     "request_id": "…"}

Routers and services raise `AppError` (or a subclass); the API's handlers
(`app.api.problems`) turn it, Starlette's HTTP errors, database errors and anything
unexpected into that body (FastAPI's validation errors: `app.api.validation`). This module
sits at the bottom of the package layers, so every layer can raise an `AppError`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.correlation import REQUEST_ID, REQUEST_ID_HEADER

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemItem(BaseModel):
    """One problem among several (a field, an invoice row …)."""

    code: str
    message: str
    loc: list[str | int] = Field(default_factory=list)
    fix: str | None = None
    context: dict[str, Any] | None = None


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ProblemItem] = Field(default_factory=list)
    request_id: str | None = Field(
        default=None,
        description="The request's X-Request-ID (also in that response header): quote it "
        "when asking about this answer",
    )


# Titles that differ between Python versions' HTTPStatus tables are pinned (RFC 9110 names).
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


class AppError(Exception):
    """An error a client can act on: a status, a stable machine code, and a human detail."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int = 400,
        title: str | None = None,
        errors: list[ProblemItem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.title = title or _TITLES.get(status) or HTTPStatus(status).phrase
        self.errors = errors or []
        self.headers = headers

    def to_problem(self) -> Problem:
        return Problem(
            type=f"urn:directo-gateway:problem:{self.code}",
            title=self.title,
            status=self.status,
            detail=self.detail,
            code=self.code,
            errors=self.errors,
            request_id=REQUEST_ID.get(),
        )


class NotFound(AppError):
    def __init__(self, what: str) -> None:
        super().__init__("not_found", f"{what} was not found", status=404)


class Conflict(AppError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail, status=409)


def problem_response(error: AppError) -> JSONResponse:
    """The problem+json answer, naming the request id of the context in body and header (the
    header too, because an answer to an unexpected error leaves past the middleware that
    echoes it on every other answer)."""
    request_id = REQUEST_ID.get()
    headers = dict(error.headers or {})
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id
    return JSONResponse(
        error.to_problem().model_dump(mode="json"),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers or None,
    )
