"""Rendering console pages: the Jinja2 environment, its filters, and the headers every
console response carries (no caching, no framing, scripts and styles from the app only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.console.session import COOKIE_NAME, COOKIE_PATH, OpsSession, SessionSigner

TEMPLATES = Path(__file__).with_name("templates")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: dt.datetime | str | None) -> str:
    """A time as operators read it: UTC, to the second."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(value: dt.datetime | None) -> str:
    """How long ago, roughly ("3 min ago"); for staleness at a glance."""
    if value is None:
        return "never"
    seconds = int((dt.datetime.now(dt.UTC) - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"


def _safe_url(url: str) -> str:
    """A target URL without what may carry a secret: user info, query and fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    hidden = "?…" if parts.query or parts.fragment else ""
    return f"{parts.scheme}://{host}{parts.path}{hidden}"


def build_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = _when
    environment.filters["ago"] = _ago
    environment.filters["safe_url"] = _safe_url
    return environment


def secure_request(request: Request) -> bool:
    """Whether the browser reached us over https: directly, through uvicorn's trusted
    proxy headers (`serve` runs with `proxy_headers`), or behind a proxy saying so. Marking
    the cookie Secure on a proxy's word can only withhold it from plain http, never leak it."""
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded.split(",")[0].strip().lower() == "https"


class Pages:
    """Renders templates into responses and writes the session cookie; built once per app."""

    def __init__(self, signer: SessionSigner) -> None:
        self.environment = build_environment()
        self.signer = signer

    def render(
        self,
        request: Request,
        template: str,
        *,
        session: OpsSession | None,
        status: int = 200,
        issue: bool = False,
        **context: Any,
    ) -> HTMLResponse:
        """The page; `issue` writes `session` as the cookie (a new sign-in or sign-in form)."""
        body = self.environment.get_template(template).render(
            session=session, path=request.url.path, **context
        )
        response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
        if issue and session is not None:
            self.set_cookie(request, response, session)
        return response

    def set_cookie(self, request: Request, response: Response, session: OpsSession) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.signer.dump(session),
            max_age=self.signer.lifetime if session.signed_in else None,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=secure_request(request),
        )

    def clear_cookie(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            COOKIE_NAME,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=secure_request(request),
        )
