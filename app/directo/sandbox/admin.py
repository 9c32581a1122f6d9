"""``/_sandbox/…`` JSON admin routes: the `SandboxState` API over HTTP.

```text
(bodies and answers are JSON; D = /_sandbox/databases/{name})
GET    /_sandbox/health                  {"ok": true}
POST   /_sandbox/reset                   back to the initial databases, tokens and mode
GET    /_sandbox/mode                    the ServerMode: {"routing", "filter_dates"}
PUT    /_sandbox/mode                    ServerMode JSON ("routing": "any"|"query", …)
GET    /_sandbox/databases               names, codes, today, sizes, faults
POST   /_sandbox/databases               DatabaseSpec JSON (sizes nested)
PUT    D/faults                          Faults JSON (also "answer_shape" of puts)
PUT    D/customers/{code}                {"name": …, …}: upsert, bumps ts ("code"/"ts"
                                         in the body override what is served)
DELETE D/customers/{code}
PUT    D/items/{code}                    upsert, bumps ts
DELETE D/items/{code}
GET    D/invoices/{number}               the invoice as the feed shows it
POST   D/receipts                        {"invoice", "amount"?, "confirmed"?, "date"?}
POST   D/receipts/{number}/confirm
POST   /_sandbox/tokens                  {"token", "database", "components"?, "revoked"?}
POST   /_sandbox/tokens/revoke           {"token"}
POST   /_sandbox/tokens/license          {"token", "components": ["get:customer", …]}
GET    /_sandbox/requests                the request log (token fingerprints only)
DELETE /_sandbox/requests
GET    /_sandbox/concurrency             per token fingerprint: calls in flight and the
                                         most seen at once
DELETE /_sandbox/concurrency             forget the maxima
```
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.directo.sandbox.config import (
    ALL_COMPONENTS,
    DatabaseSpec,
    Faults,
    ServerMode,
    TokenSpec,
)
from app.directo.sandbox.state import SandboxState

Handler = Callable[[Request], Awaitable[Response]]


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _guarded(handler: Callable[[Request], Awaitable[Any]]) -> Handler:
    """Turn lookups of unknown names into 404 and malformed bodies into 400."""

    async def endpoint(request: Request) -> Response:
        try:
            body = await handler(request)
        except KeyError as exc:
            return JSONResponse({"error": f"not found: {exc}"}, status_code=404)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return body if isinstance(body, Response) else JSONResponse(body)

    return endpoint


async def _json(request: Request) -> dict[str, Any]:
    data = await request.json() if await request.body() else {}
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _describe(state: SandboxState) -> list[dict[str, Any]]:
    return [
        {"name": name, "country": db.spec.country, "database_code": db.spec.database_code,
         "today": db.today.isoformat(), "sizes": asdict(db.spec.sizes),
         "faults": asdict(db.faults),
         "tokens": [t.token[-4:] for t in state.tokens.values() if t.database == name]}
        for name, db in state.databases.items()
    ]  # fmt: skip


async def health(request: Request) -> dict[str, Any]:
    return {"ok": True}


async def reset(request: Request) -> dict[str, Any]:
    _state(request).reset()
    return {"ok": True}


async def mode(request: Request) -> dict[str, Any]:
    state = _state(request)
    if request.method == "PUT":
        state.set_mode(ServerMode(**await _json(request)))
    return asdict(state.mode)


async def databases(request: Request) -> Any:
    state = _state(request)
    if request.method == "POST":
        spec = DatabaseSpec.from_json(await _json(request))
        state.add_database(spec)
        return JSONResponse({"name": spec.name}, status_code=201)
    return _describe(state)


async def faults(request: Request) -> dict[str, Any]:
    db = _state(request).database(request.path_params["db"])
    db.set_faults(Faults(**await _json(request)))
    return asdict(db.faults)


async def card(request: Request) -> Any:
    db = _state(request).database(request.path_params["db"])
    code, kind = request.path_params["code"], request.path_params["kind"]
    if kind not in {"customers", "items"}:
        raise KeyError(kind)
    if request.method == "DELETE":
        (db.delete_customer if kind == "customers" else db.delete_item)(code)
        return Response(status_code=204)
    attrs = await _json(request)
    return (db.upsert_customer if kind == "customers" else db.upsert_item)(code, attrs)


async def invoice(request: Request) -> dict[str, Any]:
    db = _state(request).database(request.path_params["db"])
    rec = db.invoice(request.path_params["number"])
    if rec is None:
        raise KeyError(request.path_params["number"])
    return {"attrs": rec[0], "rows": rec[1].get("rows", [])}


async def receipts(request: Request) -> Any:
    body = await _json(request)
    attrs, children = _state(request).add_receipt(
        request.path_params["db"],
        invoice=str(body["invoice"]),
        amount=None if body.get("amount") is None else str(body["amount"]),
        confirmed=bool(body.get("confirmed", True)),
        day=body.get("date"),
    )
    return JSONResponse({"attrs": attrs, "rows": children["rows"]}, status_code=201)


async def confirm_receipt(request: Request) -> dict[str, Any]:
    db = _state(request).database(request.path_params["db"])
    rec = db.confirm_receipt(request.path_params["number"])
    if rec is None:
        raise KeyError(request.path_params["number"])
    return {"attrs": rec[0], "rows": rec[1]["rows"]}


async def tokens(request: Request) -> Any:
    body = await _json(request)
    components = frozenset(body.get("components", ALL_COMPONENTS))
    _state(request).add_token(
        TokenSpec(str(body["token"]), str(body["database"]), components, bool(body.get("revoked")))
    )
    return JSONResponse({"ok": True}, status_code=201)


async def revoke(request: Request) -> dict[str, Any]:
    _state(request).revoke_token(str((await _json(request))["token"]))
    return {"ok": True}


async def license_token(request: Request) -> dict[str, Any]:
    body = await _json(request)
    _state(request).license(str(body["token"]), body["components"])
    return {"ok": True}


async def requests_log(request: Request) -> Any:
    state = _state(request)
    if request.method == "DELETE":
        state.clear_requests()
        return Response(status_code=204)
    return [entry.as_json() for entry in state.requests]


async def concurrency(request: Request) -> Any:
    state = _state(request)
    if request.method == "DELETE":
        state.calls.clear()
        return Response(status_code=204)
    return state.calls.as_json()


def routes() -> list[Route]:
    base = "/_sandbox"
    db = f"{base}/databases/{{db}}"
    return [
        Route(f"{base}/health", _guarded(health), methods=["GET"]),
        Route(f"{base}/reset", _guarded(reset), methods=["POST"]),
        Route(f"{base}/mode", _guarded(mode), methods=["GET", "PUT"]),
        Route(f"{base}/databases", _guarded(databases), methods=["GET", "POST"]),
        Route(f"{db}/faults", _guarded(faults), methods=["PUT"]),
        Route(f"{db}/{{kind}}/{{code}}", _guarded(card), methods=["PUT", "DELETE"]),
        Route(f"{db}/invoices/{{number}}", _guarded(invoice), methods=["GET"]),
        Route(f"{db}/receipts", _guarded(receipts), methods=["POST"]),
        Route(f"{db}/receipts/{{number}}/confirm", _guarded(confirm_receipt), methods=["POST"]),
        Route(f"{base}/tokens", _guarded(tokens), methods=["POST"]),
        Route(f"{base}/tokens/revoke", _guarded(revoke), methods=["POST"]),
        Route(f"{base}/tokens/license", _guarded(license_token), methods=["POST"]),
        Route(f"{base}/requests", _guarded(requests_log), methods=["GET", "DELETE"]),
        Route(f"{base}/concurrency", _guarded(concurrency), methods=["GET", "DELETE"]),
    ]
