"""The OpenAPI document as served and committed: FastAPI's, with every error response
described by the one problem body the app really sends (FastAPI documents its own
validation error shape, which this app replaces)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.errors import PROBLEM_MEDIA_TYPE, Problem, ProblemItem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_TOO_LARGE = "The request body is larger than the gateway accepts (GATEWAY_API__MAX_BODY_BYTES)"


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        webhooks=app.webhooks.routes,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["Problem"].pop("$defs", None)
    schemas["ProblemItem"] = ProblemItem.model_json_schema()
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if "requestBody" in operation:  # see app.api.limits
                operation["responses"]["413"] = {"description": _TOO_LARGE}
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    response["content"] = _problem_content()
    for path_item in document.get("webhooks", {}).values():
        for operation in path_item.values():  # the receiver's validation is not ours
            operation["responses"].pop("422", None)
    app.openapi_schema = document
    return document


def install_openapi(app: FastAPI) -> None:
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
