"""Liveness, readiness and metrics: the only routes that need no API key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from app.api.deps import ResourcesDep
from app.api.responses import problems
from app.db.repositories import system as system_repo
from app.errors import AppError, ProblemItem
from app.metrics import exposition
from app.resources import Resources
from app.security.coverage import KeyCoverage

router = APIRouter(tags=["health"])

_CHECK_TIMEOUT = 2.0


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (no dependency is checked)."""
    return Health(status="ok")


async def _check(name: str, probe: Awaitable[object]) -> tuple[str, str | None]:
    try:
        await asyncio.wait_for(probe, timeout=_CHECK_TIMEOUT)
    except TimeoutError:
        return name, f"{name} did not answer within {_CHECK_TIMEOUT:.0f} s"
    except Exception as exc:
        return name, f"{name} is unreachable ({type(exc).__name__})"
    return name, None


async def _key_problem(coverage: KeyCoverage, resources: Resources) -> ProblemItem | None:
    """A problem when some stored secret is sealed under a key id this process lacks."""
    name = "encryption_keys"
    try:
        missing = await asyncio.wait_for(
            coverage.missing(resources.sessionmaker), timeout=_CHECK_TIMEOUT
        )
    except TimeoutError:
        message = f"{name} could not be checked within {_CHECK_TIMEOUT:.0f} s"
        return ProblemItem(code=f"{name}_unchecked", message=message, loc=[name])
    except Exception as exc:  # reported in the answer, like the other checks
        message = f"{name} could not be checked ({type(exc).__name__})"
        return ProblemItem(code=f"{name}_unchecked", message=message, loc=[name])
    if not missing:
        return None
    listed = ", ".join(repr(key_id) for key_id in missing)
    return ProblemItem(
        code="encryption_key_missing",
        message=f"stored secrets are sealed under key ids this process is not configured "
        f"with: {listed}",
        loc=[name],
        fix="Add those keys to GATEWAY_ENCRYPTION__KEYS (README: Rotating the encryption key).",
        context={"key_ids": missing},
    )


@router.get("/readyz", response_model=Readiness, responses=problems(503))
async def readyz(request: Request, resources: ResourcesDep) -> Readiness:
    """Ready when PostgreSQL and Redis both answer and every stored secret is sealed under a
    key this process has; 503 naming each check that fails (and the missing key ids)."""
    results = await asyncio.gather(
        _check("postgres", system_repo.ping(resources.engine)),
        _check("redis", resources.queue.ping()),
    )
    errors = [
        ProblemItem(code=f"{name}_unavailable", message=reason, loc=[name])
        for name, reason in results
        if reason
    ]
    postgres_ok = not any(name == "postgres" and reason for name, reason in results)
    # One coverage per app (built by `create_app`), so its short cache serves every probe.
    coverage: KeyCoverage = request.app.state.key_coverage
    if postgres_ok and (key_problem := await _key_problem(coverage, resources)) is not None:
        errors.append(key_problem)
    if errors:
        raise AppError(
            "not_ready",
            "; ".join(item.message for item in errors),
            status=503,
            errors=errors,
        )
    checks = {name: "ok" for name, _ in results}
    return Readiness(status="ready", checks={**checks, "encryption_keys": "ok"})


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics() -> Response:
    """Prometheus metrics in the text exposition format (every API process's, merged, under
    `serve --workers N`; README: Metrics)."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)
