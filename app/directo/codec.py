"""Reading Directo's XML safely and as a stream.

`FeedDecoder` is an incremental pyexpat parser for one output feed: feed it bytes as they
arrive and it returns the records completed so far, built into typed models. Records are
found by element name anywhere under ``<transport>`` (inside their plural container or
directly under the root); each record's child containers (``rows/row``,
``datafields/data``) are collected into the model. Memory stays flat: only the records of
the current chunk are held.

`decode_stream` drives a decoder from an async byte iterator, parsing on a worker thread
(never on the event loop) while the next bytes are read, and yields fixed-size batches.

Every parser here is hardened: any ``<!DOCTYPE``/``<!ENTITY`` is refused at once (so no
entity expansion, no external entities, no DTD at all) and element depth is capped.
Directo's error documents (``<result type="5"/>``, ``<err>token required</err>``, …) raise
the matching `DirectoError` even when they arrive in answer to a feed request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, NoReturn, TypeVar
from xml.parsers import expat

from app.directo.errors import (
    DirectoDecodeError,
    DirectoResponseError,
    DirectoTokenMissing,
    DirectoTruncatedError,
    DirectoUnauthorized,
)
from app.directo.feeds import Attrs, Feed

R = TypeVar("R")

MAX_DEPTH = 32
DEFAULT_CHUNK_BYTES = 256 * 1024
_TRUNCATION_CODES = frozenset(
    expat.errors.codes[name]
    for name in (
        expat.errors.XML_ERROR_NO_ELEMENTS,
        expat.errors.XML_ERROR_UNCLOSED_TOKEN,
        expat.errors.XML_ERROR_PARTIAL_CHAR,
        expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
    )
)


def _refuse_dtd(*_: object) -> NoReturn:
    raise DirectoDecodeError("refused XML with a DOCTYPE/ENTITY declaration (DTDs are not allowed)")


def new_parser(
    start: Callable[[str, Attrs], None], end: Callable[[str], None]
) -> expat.XMLParserType:
    """A pyexpat parser that refuses any DTD, entity declaration or external reference."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.UnparsedEntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    return parser


def expat_failure(exc: expat.ExpatError, *, final: bool) -> DirectoDecodeError:
    """Classify a pyexpat error: an early end of input is truncation, the rest is malformed."""
    message = expat.errors.messages[exc.code] if exc.code else str(exc)
    where = f"line {exc.lineno}, column {exc.offset}"
    if final and exc.code in _TRUNCATION_CODES:
        return DirectoTruncatedError(f"the XML ended early ({message} at {where})")
    return DirectoDecodeError(f"malformed XML: {message} at {where}")


def raise_for_error_root(tag: str, attrs: Attrs, text: str = "") -> NoReturn:
    """Raise the error that a non-data root element (``result``, ``err``, …) stands for."""
    if tag in {"result", "Result"}:
        kind = attrs.get("type", attrs.get("Type", ""))
        desc = attrs.get("desc", attrs.get("Desc", ""))
        if kind == "5":
            raise DirectoUnauthorized(f"Directo answered Unauthorized (type 5: {desc!r})")
        raise DirectoResponseError(f"Directo answered type {kind or '?'}: {desc!r}")
    if tag == "err":
        if "token required" in text.lower():
            raise DirectoTokenMissing("Directo answered 'token required'")
        raise DirectoResponseError(f"Directo answered an error: {text.strip()[:200]!r}")
    if tag == "error":
        desc = attrs.get("desc", attrs.get("description", ""))
        raise DirectoResponseError(f"Directo answered error {attrs.get('code', '?')}: {desc!r}")
    raise DirectoResponseError(f"Directo answered an unexpected <{tag}> document")


class FeedDecoder(Generic[R]):
    """Incremental, hardened decoder of one feed's ``<transport>`` document.

    Not thread-safe; one decoder per response. `feed` and `close` return the records
    completed by the bytes given so far and raise a `DirectoError` subclass on bad input.
    """

    def __init__(self, feed: Feed[Any], *, max_depth: int = MAX_DEPTH) -> None:
        self._out: list[R] = []
        self._text: list[str] = []
        self._parser = new_parser(*self._handlers(feed, max_depth))

    def _handlers(
        self, feed: Feed[Any], max_depth: int
    ) -> tuple[Callable[[str, Attrs], None], Callable[[str], None]]:
        # Closures over local state: expat calls these twice per element, and cell
        # variables are markedly cheaper than attribute lookups on the hot path.
        record_tag, build, emit = feed.record, feed.build, self._out.append
        depth = record_depth = 0
        attrs: Attrs = {}
        children: dict[str, list[Attrs]] = {}
        container: list[Attrs] | None = None
        root, root_attrs = "", {}

        def too_deep() -> NoReturn:
            raise DirectoDecodeError(f"XML nested deeper than {max_depth} levels")

        def start(name: str, found: Attrs) -> None:
            nonlocal depth, record_depth, attrs, children, container, root, root_attrs
            depth += 1
            if record_depth:
                relative = depth - record_depth
                if relative == 1:
                    container = children.setdefault(name, [])
                elif relative == 2 and container is not None:
                    container.append(found)
                elif depth > max_depth:
                    too_deep()
            elif name == record_tag and depth > 1:
                record_depth, attrs, children, container = depth, found, {}, None
            elif depth == 1:
                root, root_attrs = name, found
                self._open_root(name, found)
            elif depth > max_depth:
                too_deep()
            elif root == "results" and depth == 2:
                raise_for_error_root(name, found)

        def end(name: str) -> None:
            nonlocal depth, record_depth, container
            if depth == record_depth:
                emit(build(attrs, children))
                record_depth = 0
            elif record_depth and depth == record_depth + 1:
                container = None
            depth -= 1
            if depth == 0 and root != "transport":
                raise_for_error_root(root, root_attrs, "".join(self._text))

        return start, end

    def _open_root(self, name: str, attrs: Attrs) -> None:
        if name == "transport" or name == "results":
            return
        if name == "err":
            self._parser.CharacterDataHandler = self._text.append
            return
        raise_for_error_root(name, attrs)

    def feed(self, data: bytes) -> list[R]:
        """Parse more bytes; return the records they completed (possibly none)."""
        try:
            self._parser.Parse(data, False)
        except expat.ExpatError as exc:
            raise expat_failure(exc, final=False) from None
        out = self._out[:]
        self._out.clear()
        return out

    def close(self, data: bytes = b"") -> list[R]:
        """Parse the last bytes and check the document is complete (else truncated error)."""
        try:
            self._parser.Parse(data, True)
        except expat.ExpatError as exc:
            raise expat_failure(exc, final=True) from None
        out = self._out[:]
        self._out.clear()
        return out


def decode_feed(feed: Feed[Any], data: bytes) -> list[Any]:
    """Decode a whole feed document held in memory (tests, small answers)."""
    return FeedDecoder[Any](feed).close(data)


async def decode_stream(
    feed: Feed[Any],
    chunks: AsyncIterable[bytes],
    *,
    batch_size: int = 1000,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> AsyncIterator[list[Any]]:
    """Yield lists of ``batch_size`` records (the last may be shorter) as bytes arrive.

    Parsing of one block (``chunk_bytes``) runs on a worker thread while the next block is
    read. Raises `DirectoDecodeError`/`DirectoTruncatedError` when the document is bad or
    ends early, after the batches before the fault: a caller must treat the feed as
    all-or-nothing. Errors of ``chunks`` itself propagate unchanged.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    loop = asyncio.get_running_loop()
    decoder = FeedDecoder[Any](feed)
    pending: list[Any] = []
    job: asyncio.Future[list[Any]] | None = None
    block = bytearray()
    try:
        async for chunk in chunks:
            block += chunk
            if len(block) < chunk_bytes:
                continue
            data = bytes(block)
            block.clear()
            if job is not None:
                pending.extend(await job)
                job = None
                while len(pending) >= batch_size:
                    yield pending[:batch_size]
                    del pending[:batch_size]
            job = loop.run_in_executor(None, decoder.feed, data)
        if job is not None:
            pending.extend(await job)
            job = None
        pending.extend(await loop.run_in_executor(None, decoder.close, bytes(block)))
    finally:
        if job is not None:  # abandoned (consumer stopped or the stream failed)
            job.add_done_callback(_swallow)
    for start in range(0, len(pending), batch_size):
        yield pending[start : start + batch_size]


def _swallow(job: asyncio.Future[Any]) -> None:
    with contextlib.suppress(BaseException):
        job.exception()


@dataclass(slots=True)
class XmlNode:
    """A small parsed element: tag, attributes, child elements, and text content."""

    tag: str
    attrs: Attrs
    children: list[XmlNode] = field(default_factory=list)
    text: str = ""

    def iter(self, tag: str) -> list[XmlNode]:
        """Every descendant (or self) with this tag, in document order."""
        found = [self] if self.tag == tag else []
        for child in self.children:
            found.extend(child.iter(tag))
        return found


def parse_document(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> XmlNode:
    """Parse a small, whole document (put answers, put input) with the same hardening.

    Raises `DirectoDecodeError` (or `DirectoTruncatedError`) for bad XML; it does not
    interpret the root (see `raise_for_error_root`).
    """
    stack: list[XmlNode] = []
    root: list[XmlNode] = []

    def start(name: str, attrs: Attrs) -> None:
        if len(stack) >= max_depth:
            raise DirectoDecodeError(f"XML nested deeper than {max_depth} levels")
        node = XmlNode(name, attrs)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(_: str) -> None:
        stack.pop()

    def text(chunk: str) -> None:
        if stack:
            stack[-1].text += chunk

    parser = new_parser(start, end)
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data.encode() if isinstance(data, str) else data, True)
    except expat.ExpatError as exc:
        raise expat_failure(exc, final=True) from None
    return root[0]
