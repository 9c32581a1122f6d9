"""A webhook receiver on loopback for the demo: it checks each delivery's Standard
Webhooks signature with the endpoint's secret and keeps the verified events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.webhooks.verify import WebhookVerificationError, verify_webhook


class Receiver:
    """Deliveries received so far; `secret` is set once the endpoint is registered."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.secret: str | None = None
        self.events: list[dict[str, Any]] = []
        self.rejected = 0
        self._lock = threading.Lock()

    def accept(self, headers: dict[str, str], body: bytes) -> bool:
        if self.secret is None:
            return False
        try:
            event = verify_webhook(self.secret, headers, body)
        except WebhookVerificationError:
            with self._lock:
                self.rejected += 1
            return False
        with self._lock:
            self.events.append(event)
        return True

    def find(self, type_: str, **data: object) -> dict[str, Any] | None:
        """The first verified event of `type_` whose `data` holds every item of `data`."""
        with self._lock:
            for event in self.events:
                payload = event.get("data", {})
                if event.get("type") == type_ and all(payload.get(k) == v for k, v in data.items()):
                    return event
        return None


@contextmanager
def running_receiver(host: str = "127.0.0.1") -> Iterator[Receiver]:
    """Serve a `Receiver` on a free loopback port until the block ends."""
    receiver = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            accepted = receiver.accept(dict(self.headers.items()), body)
            self.send_response(204 if accepted else 401)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the demo prints what it received itself."""

    server = ThreadingHTTPServer((host, 0), Handler)
    receiver.url = f"http://{host}:{server.server_address[1]}/webhooks"
    thread = threading.Thread(target=server.serve_forever, name="demo-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
