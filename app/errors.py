"""One error shape for every 4xx/5xx: `application/problem+json` (RFC 9457) with a stable code.

    {"type": "urn:directo-gateway:problem:not_found", "title": "Not Found", "status": 404,
     "detail": "…", "code": "not_found",
     "errors": [{"loc": [...], "code": "...", "message": "...", "fix": "..."}]}

Routers and services raise `AppError` (or a subclass); the handlers here turn it, FastAPI's
validation errors, Starlette's HTTP errors and anything unexpected into that body. An
unexpected exception becomes a 500 whose body reveals nothing of its cause.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger(__name__)


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
        )


class NotFound(AppError):
    def __init__(self, what: str) -> None:
        super().__init__("not_found", f"{what} was not found", status=404)


class Conflict(AppError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail, status=409)


def problem_response(error: AppError) -> JSONResponse:
    return JSONResponse(
        error.to_problem().model_dump(mode="json"),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=error.headers,
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(exc)


# FastAPI's answer to a body it cannot read at all (bytes that are not UTF-8, say); the same
# body with a JSON syntax error is a 422, so this one is too: one documented status for both.
_UNREADABLE_BODY = "There was an error parsing the body"


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
        item = ProblemItem(code="json_invalid", message="The body is not JSON text.", loc=["body"])
        return problem_response(
            AppError(
                "validation_failed",
                "The request is not valid; see errors for each problem.",
                status=422,
                errors=[item],
            )
        )
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(AppError(code, detail, status=exc.status_code, headers=headers))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = [
        ProblemItem(
            code=str(err.get("type", "invalid")),
            message=str(err.get("msg", "invalid value")),
            loc=[part if isinstance(part, int) else str(part) for part in err.get("loc", ())],
        )
        for err in exc.errors()
    ]
    return problem_response(
        AppError(
            "validation_failed",
            "The request is not valid; see errors for each problem.",
            status=422,
            errors=items,
        )
    )


# Errors that are the request's own fault or a bug, not the database being away.
_NOT_AN_OUTAGE = (sa_exc.IntegrityError, sa_exc.DataError, sa_exc.ProgrammingError)
_TEXT_NOT_STORABLE = "22021"  # character_not_in_repertoire


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """PostgreSQL unreachable, restarting or refusing connections: 503, retry shortly."""
    if getattr(getattr(exc, "orig", None), "sqlstate", None) == _TEXT_NOT_STORABLE:
        # Text PostgreSQL cannot hold (a NUL character): the request's fault, not an outage.
        return problem_response(
            AppError(
                "text_not_storable",
                "The request holds text that cannot be stored (a NUL character).",
                status=422,
            )
        )
    if isinstance(exc, _NOT_AN_OUTAGE):
        return await _unexpected_error(request, exc)
    log.warning("database_unavailable", error_type=type(exc).__name__)
    return problem_response(
        AppError(
            "database_unavailable",
            "The gateway's database is unavailable; retry in a few seconds.",
            status=503,
            headers={"Retry-After": "5"},
        )
    )


async def _connection_error(_: Request, exc: Exception) -> JSONResponse:
    """A dependency refused or dropped the connection (e.g. PostgreSQL restarting)."""
    log.warning("dependency_unavailable", error_type=type(exc).__name__)
    return problem_response(
        AppError(
            "dependency_unavailable",
            "A service the gateway depends on is unavailable; retry in a few seconds.",
            status=503,
            headers={"Retry-After": "5"},
        )
    )


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return problem_response(
        AppError("internal_error", "The gateway failed to handle this request.", status=500)
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
    app.add_exception_handler(OSError, _connection_error)
    app.add_exception_handler(Exception, _unexpected_error)
