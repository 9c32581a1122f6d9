"""`CallGauge`: how many XML Direct calls each token has in flight, and the most ever seen.

A call counts from the moment its request is read until its answer's last byte was sent
(a streamed feed counts while it streams), so the maximum is what a Directo server would
have seen of a client's concurrency — the figure the fleet-wide budget must keep under the
cap. Keyed by the token's fingerprint (never the token). Thread-safe: the sandbox serves
from its own thread while tests read it from theirs.
"""

from __future__ import annotations

import threading
from typing import Any


class CallGauge:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._max: dict[str, int] = {}

    def started(self, token: str) -> None:
        with self._lock:
            now = self._in_flight.get(token, 0) + 1
            self._in_flight[token] = now
            self._max[token] = max(now, self._max.get(token, 0))

    def ended(self, token: str) -> None:
        with self._lock:
            self._in_flight[token] = max(0, self._in_flight.get(token, 0) - 1)

    def max_in_flight(self, token: str) -> int:
        """The most calls `token` (a fingerprint) had in flight at once since `clear`."""
        with self._lock:
            return self._max.get(token, 0)

    def clear(self) -> None:
        """Forget the maxima (calls in flight keep counting)."""
        with self._lock:
            self._max = {token: now for token, now in self._in_flight.items() if now}

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                token: {"in_flight": self._in_flight.get(token, 0), "max": peak}
                for token, peak in self._max.items()
            }
