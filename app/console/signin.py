"""Signing in with an operations key, and out again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.console import audit
from app.console.deps import (
    CheckedFormDep,
    OperatorDep,
    OptionalSessionDep,
    PagesDep,
    ResourcesDep,
    read_form,
    safe_next,
)
from app.console.session import OpsSession, csrf_matches, match_key

router = APIRouter()

WRONG_KEY = "That operations key is not valid. Check it and try again."
STALE_FORM = "The sign-in form had expired. Please enter the key again."


def _form(
    request: Request,
    pages: PagesDep,
    *,
    next_path: str,
    message: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The sign-in form under a fresh anonymous session (its own CSRF token)."""
    session = pages.signer.new(None)
    return pages.render(
        request,
        "sign_in.html",
        session=session,
        issue=True,
        status=status_code,
        message=message,
        next_path=next_path,
    )


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(
    request: Request,
    pages: PagesDep,
    session: OptionalSessionDep,
    next_path: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    if session is not None and session.signed_in:
        return RedirectResponse(safe_next(next_path), status_code=status.HTTP_303_SEE_OTHER)
    return _form(request, pages, next_path=safe_next(next_path))


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request, pages: PagesDep, resources: ResourcesDep, session: OptionalSessionDep
) -> Response:
    """Sign in: 303 to where the operator was going; 401 with a message for a wrong key;
    403 when the form's CSRF token is not this browser's (a forged or expired form)."""
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    if session is None or not csrf_matches(session, form.get("csrf_token") or None):
        audit.refused_sign_in(request, "csrf")
        return _form(request, pages, next_path=next_path, message=STALE_FORM, status_code=403)
    operator = match_key(form.get("key"), resources.settings.ops.keys)
    if operator is None:
        audit.refused_sign_in(request, "wrong_key")
        return _form(request, pages, next_path=next_path, message=WRONG_KEY, status_code=401)
    signed_in: OpsSession = pages.signer.new(operator)
    audit.action(request, operator, "sign_in")
    response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)
    pages.set_cookie(request, response, signed_in)
    return response


@router.post("/sign-out", response_class=HTMLResponse)
async def sign_out(
    request: Request, pages: PagesDep, session: OperatorDep, _form: CheckedFormDep
) -> Response:
    assert session.operator is not None
    audit.action(request, session.operator, "sign_out")
    response = RedirectResponse("/ops/sign-in", status_code=status.HTTP_303_SEE_OTHER)
    pages.clear_cookie(request, response)
    return response
