"""Mounting the console on the app: its pages under `/ops`, its assets under `/ops/static`,
and the answers to its own exceptions (HTML pages and redirects, never problem+json)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.config import Settings
from app.console import companies, exports, jobs, reloads, signin, webhooks
from app.console.deps import (
    ConsoleNotFound,
    CsrfRefused,
    SignInRequired,
    load_session,
    sign_in_url,
)
from app.console.render import SECURITY_HEADERS, Pages
from app.console.session import SessionSigner

STATIC = Path(__file__).with_name("static")


def install_console(app: FastAPI, settings: Settings) -> None:
    """Serve the console when at least one operations key is configured; otherwise add
    nothing, so every `/ops` path is the app's plain 404."""
    if not settings.ops.keys:
        return
    pages = Pages(SessionSigner(settings))
    app.state.console_pages = pages

    for module in (signin, companies, jobs, reloads, exports, webhooks):
        app.include_router(module.router, prefix="/ops", include_in_schema=False)
    app.mount("/ops/static", StaticFiles(directory=STATIC), name="ops-static")

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        if exc.fragment:
            return Response(status_code=401, headers=SECURITY_HEADERS)
        return RedirectResponse(sign_in_url(exc.next_path), status_code=303)

    async def csrf_refused(request: Request, exc: Exception) -> HTMLResponse:
        return pages.render(
            request,
            "message.html",
            session=load_session(request),
            status=403,
            title="Form refused",
            message="This form was not sent from this console session (or the session "
            "changed since it was shown). Go back, reload the page and try again.",
        )

    async def not_found(request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, ConsoleNotFound)
        return pages.render(
            request,
            "message.html",
            session=load_session(request),
            status=404,
            title="Not found",
            message=f"There is no {exc.what}.",
        )

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(ConsoleNotFound, not_found)
