"""Dependencies injected through `Annotated` aliases: resources, settings, unit of work, auth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.pagination import Cursors
from app.config import Settings
from app.directo.budget import Priority
from app.directo.client import DirectoClient
from app.errors import AppError, problem_response
from app.jobs.unit_of_work import UnitOfWork
from app.resources import Resources
from app.security.auth import api_key_is_valid, bearer_token

log = structlog.get_logger(__name__)


# The getters are `async def` although they never await: FastAPI runs a plain `def`
# dependency in its thread pool, a hand-off per request (and per getter) for an attribute read.
async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_directo(resources: ResourcesDep) -> DirectoClient:
    """The Directo client at interactive priority: someone waits for a route's calls."""
    return resources.directo.with_priority(Priority.INTERACTIVE)


DirectoDep = Annotated[DirectoClient, Depends(get_directo)]


async def get_unit_of_work(resources: ResourcesDep) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work; commits it when the route returns normally (the
    dependency's `scope="function"` runs this before the response goes out, so a failed
    commit is the request's error, never a success answered for lost work)."""
    async with resources.sessionmaker() as session:
        unit = UnitOfWork(session, resources)
        yield unit
        await unit.commit()


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


async def get_reader(resources: ResourcesDep) -> AsyncEngine:
    """The pool in autocommit, for routes that read with one statement: they take a
    connection just for that statement, not for the whole request."""
    return resources.reader


ReaderDep = Annotated[AsyncEngine, Depends(get_reader)]


async def get_cursors(request: Request) -> Cursors:
    cursors: Cursors = request.app.state.cursors
    return cursors


CursorsDep = Annotated[Cursors, Depends(get_cursors)]

_bearer = HTTPBearer(auto_error=False, description="An API key from GATEWAY_API__KEYS")


async def require_api_key(
    request: Request,
    resources: ResourcesDep,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries `Authorization: Bearer <one of the configured keys>`
    (the header read as `ApiKeyGate` reads it; `_bearer` declares the scheme in OpenAPI)."""
    presented = bearer_token(request.headers.get("authorization"))
    if presented is None or not api_key_is_valid(presented, resources.settings.api.keys):
        raise unauthorized()


def unauthorized() -> AppError:
    return AppError(
        "unauthorized",
        "A valid API key is required: send 'Authorization: Bearer <key>'.",
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


class ApiKeyGate:
    """ASGI middleware: a request under `prefix` without a valid key gets its 401 here,
    before routing. FastAPI reads and parses a request body before it runs any dependency,
    so without the gate an anonymous caller sending a malformed body would get a 422 that
    describes the body. `require_api_key` still guards (and documents) every route."""

    def __init__(self, app: ASGIApp, *, keys: list[SecretStr], prefix: str = "/v1/") -> None:
        self.app = app
        self.keys = keys
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            presented = bearer_token(Headers(scope=scope).get("authorization"))
            if presented is None or not api_key_is_valid(presented, self.keys):
                await problem_response(unauthorized())(scope, receive, send)
                return
        await self.app(scope, receive, send)
