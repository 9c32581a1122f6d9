"""The request-body limit, enforced while the body streams in.

`BodyLimit` is plain ASGI, so nothing is buffered to measure: a `Content-Length` above the
limit is refused before a byte of the body is read, and a body without one (chunked) is
counted message by message as the application receives it, refused at the first message
that passes the limit. Either way the answer is `413 body_too_large` (problem+json) with
`Connection: close`, so the server stops reading the rest of the upload instead of
draining it.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import AppError, problem_response

_CLOSE = {"Connection": "close"}


def _detail(limit: int) -> str:
    return f"The request body is larger than {limit} bytes, the most this gateway accepts."


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes the limit. An `HTTPException`, because
    FastAPI lets those out of its body parsing unchanged (any other error there becomes a
    400); the app's handler for HTTP errors answers it as `body_too_large`."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_detail(limit), headers=_CLOSE)


def too_large(limit: int) -> AppError:
    return AppError("body_too_large", _detail(limit), status=413, headers=_CLOSE)


def _declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    # Servers refuse a malformed length before the app; "²".isdigit() is true, though.
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


class BodyLimit:
    """ASGI middleware: 413 for a request body longer than `max_bytes`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await problem_response(too_large(self.max_bytes))(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            # Read outside FastAPI's body parsing, so no handler answered it.
            if started:
                raise
            await problem_response(too_large(self.max_bytes))(scope, receive, send)
