"""The API application: `create_app()` wires routers, error handlers and the lifespan that
opens the shared resources (the same factory the worker uses)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.exceptions import RequestValidationError

from app.api import (
    catalogue,
    connections,
    exports,
    health,
    jobs,
    lists,
    payment_terms,
    reloads,
    statistics,
    sync_status,
    validation,
    webhook_events,
    webhooks,
)
from app.api.deps import ApiKeyGate, require_api_key
from app.api.docs import install_docs
from app.api.limits import BodyLimit
from app.api.openapi import install_openapi
from app.api.pagination import Cursors
from app.api.problems import install_error_handlers
from app.api.request_context import RequestContext
from app.api.responses import problems
from app.config import Settings, get_settings
from app.console.mount import install_console
from app.logging import configure_logging
from app.metrics import RequestMetricsMiddleware
from app.resources import open_resources
from app.runtime import tune_garbage_collector
from app.security.coverage import KeyCoverage
from app.security.crypto import SecretBox

API_VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log)
        async with open_resources(settings) as resources:
            app.state.resources = resources
            tune_garbage_collector()
            yield

    app = FastAPI(
        title="Directo sync gateway",
        version=API_VERSION,
        description=(
            "Connects Uku to the Directo ERP: credentials, customer and article imports, "
            "monthly work statistics, reloads, invoice export and paid status, webhooks."
        ),
        lifespan=lifespan,
        docs_url=None,  # app.api.docs serves them with local assets
        redoc_url=None,
    )
    app.state.cursors = Cursors.from_settings(settings)
    # Readiness's view of the stored key ids, cached for a few seconds across its probes.
    app.state.key_coverage = KeyCoverage(SecretBox(settings.encryption.keys))
    install_error_handlers(app)
    app.add_exception_handler(RequestValidationError, validation.validation_failed)
    install_openapi(app)
    install_docs(app)
    app.webhooks.include_router(webhook_events.router)
    # Innermost first. The key is checked before the body's size, so an anonymous caller
    # learns nothing but 401 and its body is never read: 401, then 413, then 404/422.
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(ApiKeyGate, keys=settings.api.keys)
    # Added last, so outermost: it counts the gate's 401s too (as route "unmatched").
    app.add_middleware(RequestMetricsMiddleware)
    # Outside even that: every answer, the gate's 401 included, echoes the request id, and
    # every log line of the request carries it.
    app.add_middleware(RequestContext)
    app.include_router(health.router)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], responses=problems(401))
    v1.include_router(jobs.router)
    v1.include_router(connections.router)
    v1.include_router(catalogue.router)
    v1.include_router(webhooks.router)
    v1.include_router(statistics.router)
    v1.include_router(reloads.router)
    v1.include_router(exports.router)
    v1.include_router(payment_terms.router)
    v1.include_router(lists.router)
    v1.include_router(sync_status.router)
    app.include_router(v1)
    install_console(app, settings)  # /ops, only when GATEWAY_OPS__KEYS is set
    return app
