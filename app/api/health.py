"""Liveness, readiness and metrics: the only routes that need no API key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from app.api.deps import ResourcesDep
from app.api.responses import problems
from app.db.repositories import system as system_repo
from app.errors import AppError, ProblemItem

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


@router.get("/readyz", response_model=Readiness, responses=problems(503))
async def readyz(resources: ResourcesDep) -> Readiness:
    """Ready when PostgreSQL and Redis both answer; 503 naming each that does not."""
    results = await asyncio.gather(
        _check("postgres", system_repo.ping(resources.engine)),
        _check("redis", resources.queue.ping()),
    )
    failures = [(name, reason) for name, reason in results if reason]
    if failures:
        raise AppError(
            "not_ready",
            "; ".join(reason for _, reason in failures),
            status=503,
            errors=[
                ProblemItem(code=f"{name}_unavailable", message=reason, loc=[name])
                for name, reason in failures
            ],
        )
    return Readiness(status="ready", checks={name: "ok" for name, _ in results})


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics() -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
