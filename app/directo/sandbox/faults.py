"""Injected faults applied to an answer: cut-short bodies and dropped connections."""

from __future__ import annotations

from collections.abc import Iterator


class SandboxDrop(Exception):
    """Raised mid-body to make the server abort the connection (a "dropped" connection)."""


def truncated(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Only the first two thirds of the first chunk, then a clean end of body.

    The HTTP framing is correct, so the client sees a complete response whose XML stops
    in the middle: what a proxy cutting a body short, or a half-written file, looks like.
    """
    first = next(chunks, b"")
    yield first[: max(1, len(first) * 2 // 3)]


def dropped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Two thirds of the first chunk, then an abort: the client gets an incomplete body."""
    first = next(chunks, b"")
    yield first[: max(1, len(first) * 2 // 3)]
    raise SandboxDrop("sandbox fault injection: connection dropped mid-body")
