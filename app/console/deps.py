"""What console routes are given: resources, the request's unit of work, the operator's
session (or a redirect to sign in), and forms whose CSRF token has been checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, quote

import structlog
from fastapi import Depends, Request

from app.console.render import Pages
from app.console.session import COOKIE_NAME, OpsSession, SessionSigner, csrf_matches
from app.jobs.unit_of_work import UnitOfWork
from app.resources import Resources

log = structlog.get_logger(__name__)

_MAX_FORM_BYTES = 16 * 1024  # the console's forms are a few fields


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in form, fragments answer 401."""

    def __init__(self, next_path: str, *, fragment: bool) -> None:
        self.next_path = next_path
        self.fragment = fragment


class CsrfRefused(Exception):
    """A POST without this session's CSRF token (a forged or stale form): 403."""


class ConsoleNotFound(Exception):
    """The page's object does not exist: 404 with a page saying what was looked for."""

    def __init__(self, what: str) -> None:
        self.what = what


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.console_pages
    return pages


PagesDep = Annotated[Pages, Depends(get_pages)]


def load_session(request: Request) -> OpsSession | None:
    signer: SessionSigner = request.app.state.console_pages.signer
    return signer.load(request.cookies.get(COOKIE_NAME))


async def optional_session(request: Request) -> OpsSession | None:
    return load_session(request)


OptionalSessionDep = Annotated[OpsSession | None, Depends(optional_session)]


async def require_operator(request: Request) -> OpsSession:
    """The signed-in session; else the page redirects to sign in (and comes back)."""
    session = load_session(request)
    if session is None or not session.signed_in:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target, fragment=request.url.path.endswith("/live"))
    return session


OperatorDep = Annotated[OpsSession, Depends(require_operator)]


def sign_in_url(next_path: str) -> str:
    return "/ops/sign-in?next=" + quote(next_path, safe="/")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if value and value.startswith("/ops") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ops"


@dataclass(frozen=True, slots=True)
class Form:
    fields: dict[str, list[str]]

    def get(self, name: str) -> str:
        values = self.fields.get(name)
        return values[-1].strip() if values else ""


async def read_form(request: Request) -> Form:
    """The urlencoded body's fields (the console's forms post nothing else)."""
    body = await request.body()
    fields: dict[str, list[str]] = {}
    if len(body) <= _MAX_FORM_BYTES:
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            fields.setdefault(name, []).append(value)
    return Form(fields)


async def checked_form(request: Request, session: OperatorDep) -> Form:
    """The POSTed form, refused (403) unless it carries this session's CSRF token."""
    form = await read_form(request)
    if not csrf_matches(session, form.get("csrf_token") or None):
        raise CsrfRefused()
    return form


CheckedFormDep = Annotated[Form, Depends(checked_form)]


async def get_work(resources: ResourcesDep) -> AsyncIterator[UnitOfWork]:
    """Reads and actions share one session; an action commits it itself (`commit()`) before
    answering, so nothing is redirected to that did not commit. Anything left is rolled back."""
    async with resources.sessionmaker() as session:
        yield UnitOfWork(session, resources)


WorkDep = Annotated[UnitOfWork, Depends(get_work)]
