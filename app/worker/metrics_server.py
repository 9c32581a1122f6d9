"""The worker's `/metrics`: a tiny HTTP server on the worker's own event loop.

A worker has no web framework, and a thread-based exporter could not await the database
reads that refresh the deployment-wide gauges (`fleet_gauges`). This server answers
`GET /metrics` (and nothing else: 404, or 405 for another method), one request per
connection, and is started and stopped with the worker (`app/worker/settings.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from app.metrics import exposition

log = structlog.get_logger(__name__)

_READ_TIMEOUT = 5.0
_MAX_HEAD = 16 * 1024


def _answer(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class MetricsServer:
    """Serves `/metrics` on `host:port` (port 0: any free one, see `port`) once started;
    `before_scrape` runs before each answer is rendered."""

    def __init__(
        self, *, host: str, port: int, before_scrape: Callable[[], Awaitable[None]]
    ) -> None:
        self._host = host
        self._port = port
        self._before_scrape = before_scrape
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose, when asked for 0)."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        log.info("worker_metrics_listening", host=self._host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            writer.write(await self._respond(head))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client that never finished its request gets nothing
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(self, head: bytes) -> bytes:
        if len(head) > _MAX_HEAD:
            return _answer("431 Request Header Fields Too Large", b"")
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        path = rest.split(" ", 1)[0].split("?", 1)[0]
        if path != "/metrics":
            return _answer("404 Not Found", b"not found\n")
        if method != "GET":
            return _answer("405 Method Not Allowed", b"")
        await self._before_scrape()
        body, content_type = exposition()
        return _answer("200 OK", body, content_type)
