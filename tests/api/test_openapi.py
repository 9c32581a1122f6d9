"""The committed openapi.yaml is exactly what the app serves."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from httpx import AsyncClient

from app.cli import OPENAPI_PATH, openapi_document


async def test_committed_openapi_equals_the_served_document(client: AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    committed = yaml.safe_load(Path(OPENAPI_PATH).read_text())
    assert committed == served, "openapi.yaml is stale: run `directo-gateway openapi`"


@pytest.mark.slow
def test_openapi_file_is_byte_identical_to_a_fresh_render() -> None:
    assert Path(OPENAPI_PATH).read_text() == openapi_document()


@pytest.mark.slow
async def test_every_error_response_is_documented_as_a_problem(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"] == {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    }, f"{method.upper()} {path} {status}"
            if path.startswith("/v1/"):
                assert "401" in operation["responses"], f"{method.upper()} {path}"
