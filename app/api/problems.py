"""The API's exception handlers: every error a request meets becomes a problem+json body.

`AppError`s answer as they are; Starlette's HTTP errors get stable codes; database errors
are answered by what they mean (`app.db.errors`); a missing encryption key is a 503 naming
the key id; anything unexpected is a 500 whose body reveals nothing of its cause.
"""

from __future__ import annotations

from http import HTTPStatus

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.db import errors as db_errors
from app.errors import AppError, ProblemItem, problem_response
from app.security.crypto import EncryptionKeyMissing, SecretDecryptionError

log = structlog.get_logger(__name__)


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


async def _secret_unreadable(_: Request, exc: Exception) -> JSONResponse:
    """409: a stored secret (a Directo token, a webhook or callback secret) fails
    authentication — damaged in the database. Nothing is retried; storing it again is the
    fix."""
    log.error("stored_secret_unreadable", error=str(exc))
    return problem_response(
        AppError(
            SecretDecryptionError.code,
            "A secret the gateway stored for this request cannot be read (it fails "
            "authentication): store it again — connect again with the Directo token, or "
            "rotate the webhook or callback secret.",
            status=409,
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
    app.add_exception_handler(EncryptionKeyMissing, _encryption_key_missing)
    app.add_exception_handler(SecretDecryptionError, _secret_unreadable)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
    app.add_exception_handler(OSError, _connection_error)
    app.add_exception_handler(Exception, _unexpected_error)
