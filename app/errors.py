"""One error shape for every 4xx/5xx: `application/problem+json` (RFC 9457) with a stable code.

    {"type": "urn:directo-gateway:problem:not_found", "title": "Not Found", "status": 404,
     "detail": "…", "code": "not_found",
     "errors": [{"loc": [...], "code": "...", "message": "...", "fix": "..."}]}

Routers and services raise `AppError` (or a subclass); the handlers here turn it, FastAPI's
validation errors, Starlette's HTTP errors and anything unexpected into that body. An
unexpected exception becomes a 500 whose body reveals nothing of its cause.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, get_args

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.db import errors as db_errors
from app.security.crypto import EncryptionKeyMissing

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
    413: "body_too_large",
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


def _unknown_field(request: Request, loc: Sequence[str | int]) -> ProblemItem:
    """A body field the model does not have: named, with the likeliest intended one."""
    name = str(loc[-1])
    close = difflib.get_close_matches(name, _fields_around(request, loc), n=1)
    fix = f"Did you mean '{close[0]}'? " if close else ""
    return ProblemItem(
        code="extra_forbidden",
        message=f"Unknown field '{name}': this request has no such field.",
        loc=list(loc),
        fix=fix + "Remove the field or correct its name (see openapi.yaml).",
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = []
    for err in exc.errors():
        loc = [part if isinstance(part, int) else str(part) for part in err.get("loc", ())]
        if err.get("type") == "extra_forbidden" and loc[:1] == ["body"]:
            items.append(_unknown_field(request, loc))
            continue
        items.append(
            ProblemItem(
                code=str(err.get("type", "invalid")),
                message=str(err.get("msg", "invalid value")),
                loc=loc,
            )
        )
    return problem_response(
        AppError(
            "validation_failed",
            "The request is not valid; see errors for each problem.",
            status=422,
            errors=items,
        )
    )


_NOT_STORABLE = {
    db_errors.DatabaseFailure.TEXT_NOT_STORABLE: (
        "The request holds text that cannot be stored (a NUL character or an unpaired surrogate)."
    ),
    db_errors.DatabaseFailure.VALUE_NOT_STORABLE: (
        "A value in the request cannot be stored: a date, a number or a text outside the "
        "range the gateway keeps."
    ),
}


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database error, answered by what it means (see `app.db.errors`): the request's
    value → 422; busy → 503; no connection → 503 and an outage logged; else a bug → 500."""
    failure = db_errors.classify(exc)
    if failure in _NOT_STORABLE:
        log.info("database_refused_value", failure=failure.value, error_type=type(exc).__name__)
        return problem_response(AppError(failure.value, _NOT_STORABLE[failure], status=422))
    if failure is db_errors.DatabaseFailure.BUG:
        return await _unexpected_error(request, exc)
    busy = failure is db_errors.DatabaseFailure.BUSY
    code = "database_busy" if busy else "database_unavailable"
    log.warning(code, error_type=type(exc).__name__)
    return problem_response(
        AppError(
            code,
            f"The gateway's database is {'busy' if busy else 'unavailable'}; "
            "retry in a few seconds.",
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


def encryption_key_missing(exc: EncryptionKeyMissing) -> AppError:
    """503 naming the missing key id (never the secret): this replica lacks a key that
    another has, so the operator's fix is configuration and a client may retry."""
    return AppError(
        exc.code,
        str(exc),
        status=503,
        errors=[
            ProblemItem(
                code=exc.code,
                message=str(exc),
                fix=f"Add the key with id {exc.key_id!r} to GATEWAY_ENCRYPTION__KEYS of every "
                "API and worker process (README: Rotating the encryption key).",
                context={"key_id": exc.key_id},
            )
        ],
    )


async def _encryption_key_missing(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EncryptionKeyMissing)
    log.error("encryption_key_missing", key_id=exc.key_id)
    return problem_response(encryption_key_missing(exc))


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return problem_response(
        AppError("internal_error", "The gateway failed to handle this request.", status=500)
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(EncryptionKeyMissing, _encryption_key_missing)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
    app.add_exception_handler(OSError, _connection_error)
    app.add_exception_handler(Exception, _unexpected_error)
