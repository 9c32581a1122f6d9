"""`/docs` and `/redoc` work offline: every asset they name is served by the app."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient

EXPECTED_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


def _local_references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


@pytest.mark.slow
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_name_only_assets_the_app_serves(client: AsyncClient, page: str) -> None:
    response = await client.get(page, headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert re.findall(r"https?://[^\s\"'<>]+", html) == []
    references = _local_references(html)
    assert references, html
    for reference in [*references, "/openapi.json"]:
        assert reference.startswith("/"), reference
        asset = await client.get(reference, headers={"Authorization": ""})
        assert asset.status_code == 200, reference
        suffix = reference[reference.rfind(".") :]
        assert asset.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), (
            reference,
            asset.headers["content-type"],
        )
        assert len(asset.content) > 100, reference


async def test_swagger_ui_is_one_that_reads_openapi_3_1(client: AsyncClient) -> None:
    bundle = await client.get("/docs-assets/swagger-ui-bundle.js")
    # Swagger UI 4 refuses an "openapi: 3.1.0" document; 5 has an OAS 3.1 plugin.
    assert "isOAS31" in bundle.text
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200
