"""Reading Directo's XML safely and as a stream.

`FeedDecoder` is an incremental lxml (libxml2) push parser for one output feed: feed it
bytes as they arrive and it returns the records completed so far, built into typed models.
Records are found by element name anywhere under ``<transport>`` (inside their plural
container or directly under the root); each record's child containers (``rows/row``,
``datafields/data``) are collected into the model. Memory stays flat: no tree is built
(libxml2 reports each element to a parser *target*), and only the records of the current
chunk are held.

`decode_stream` drives a decoder from an async byte iterator, parsing on a worker thread
of its own (never on the event loop) while the next bytes are read, and yields fixed-size
batches.

Every parser here is hardened: a ``<!DOCTYPE`` is refused the moment libxml2 reports it,
before its internal subset (and so any ``<!ENTITY``) is read — no entity expansion, no
external entities, no DTD at all; network access and DTD loading are off, libxml2's size
limits stay on (no ``huge_tree``), and element depth is capped. Directo's error documents
(``<result type="5"/>``, ``<err>token required</err>``, ``<error>…</error>`` …) raise the
`DirectoError` `answers.error_for` finds for them, even in answer to a feed request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Generic, NoReturn, TypeVar

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information

from app.directo import answers
from app.directo.errors import DirectoDecodeError, DirectoTruncatedError
from app.directo.feeds import Attrs, Feed

R = TypeVar("R")

MAX_DEPTH = 32
DEFAULT_CHUNK_BYTES = 256 * 1024
# Stable words for the libxml2 errors a log reader meets most (its own text follows).
_ERROR_WORDS = {
    4: "syntax error",
    5: "junk after document element",
    26: "undefined entity",
    76: "mismatched tag",
}


def _refuse_dtd(*_: object) -> NoReturn:
    raise DirectoDecodeError("refused XML with a DOCTYPE/ENTITY declaration (DTDs are not allowed)")


def _no_result() -> None:
    return None


def new_parser(target: object) -> Any:
    """An lxml push parser reporting to ``target`` (``start``/``end``/``data`` callables).

    Any DOCTYPE raises `DirectoDecodeError` before its internal subset is parsed (the
    target's ``doctype`` is replaced). ``resolve_entities="internal"`` is deliberate:
    with no DTD there is nothing internal to resolve, while ``False`` makes libxml2 hand
    attribute values to targets with ``&`` re-escaped as ``&#38;``.
    """
    target.doctype = _refuse_dtd  # type: ignore[attr-defined]
    target.close = _no_result  # type: ignore[attr-defined]
    return etree.XMLParser(
        target=target,
        resolve_entities="internal",
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
    )


def parse_failure(exc: Exception, *, ended_early: bool) -> DirectoDecodeError:
    """Classify a libxml2 error: input that stopped mid-document is truncation, else malformed."""
    message = str(getattr(exc, "msg", exc)).partition(", line ")[0]
    line, column = getattr(exc, "position", (0, 0))
    where = f"line {line}, column {column}"
    if ended_early:
        return DirectoTruncatedError(f"the XML ended early ({message} at {where})")
    words = _ERROR_WORDS.get(getattr(exc, "code", 0))
    return DirectoDecodeError(f"malformed XML: {f'{words}: ' if words else ''}{message} at {where}")


class FeedDecoder(Generic[R]):
    """Incremental, hardened decoder of one feed's ``<transport>`` document.

    Not thread-safe, and every call should come from one thread (lxml keeps per-thread
    parser state): one decoder per response. `feed` and `close` return the records
    completed by the bytes given so far and raise a `DirectoError` subclass on bad input;
    after an error the decoder is spent.
    """

    def __init__(self, feed: Feed[Any], *, max_depth: int = MAX_DEPTH) -> None:
        self._out: list[R] = []
        self._ended = False
        # At close libxml2 may report a start tag the input cut short (``<tra``): that is
        # truncation, not an unexpected root, so roots are only judged before close.
        self._closing = False
        self._parser = new_parser(self._target(feed, max_depth))

    def _target(self, feed: Feed[Any], max_depth: int) -> SimpleNamespace:
        # Closures over local state: libxml2 calls these twice per element, and cell
        # variables are markedly cheaper than attribute lookups on the hot path.
        record_tag, build, emit = feed.record, feed.build, self._out.append
        depth = record_depth = 0
        attrs: Attrs = {}
        children: dict[str, list[Attrs]] = {}
        container: list[Attrs] = []
        root = ""
        # An error answer (``<result/>``, ``<err>…</err>``, ``<results>`` …) is small: it
        # is read whole into nodes and judged at its end by `answers.error_for`, so its
        # text content (Directo's message) is kept. Empty while reading a ``<transport>``.
        stack: list[XmlNode] = []
        answer: XmlNode | None = None

        def start(name: str, found: Attrs) -> None:
            # ``found`` is a dict, or an immutable empty mapping for an element without
            # attributes; ``or {}`` keeps ``raw`` a real dict.
            nonlocal depth, record_depth, attrs, children, container, root, answer
            depth += 1
            if depth > max_depth:
                raise DirectoDecodeError(f"XML nested deeper than {max_depth} levels")
            if record_depth:
                relative = depth - record_depth
                if relative == 2:
                    container.append(found or {})
                elif relative == 1:
                    container = children.setdefault(name, [])
            elif stack:
                node = XmlNode(name, dict(found))
                stack[-1].children.append(node)
                stack.append(node)
            elif name == record_tag and depth > 1:
                record_depth, attrs, children = depth, found or {}, {}
            elif depth == 1:
                root = name
                if name in answers.ERROR_ROOTS:
                    answer = XmlNode(name, dict(found))
                    stack.append(answer)
                elif name != "transport" and not self._closing:
                    raise answers.error_for(XmlNode(name, {}))

        def end(_: str) -> None:
            nonlocal depth, record_depth
            if depth == record_depth:
                emit(build(attrs, children))
                record_depth = 0
            elif stack:
                stack.pop()
            depth -= 1
            if not depth:
                self._ended = True
                if root != "transport":
                    raise answers.error_for(answer or XmlNode(root, {}))

        def data(chunk: str) -> None:
            if stack:
                stack[-1].text += chunk

        return SimpleNamespace(start=start, end=end, data=data)

    def feed(self, data: bytes) -> list[R]:
        """Parse more bytes; return the records they completed (possibly none)."""
        try:
            self._parser.feed(data)
        except etree.XMLSyntaxError as exc:
            raise parse_failure(exc, ended_early=False) from None
        return self._take()

    def close(self, data: bytes = b"") -> list[R]:
        """Parse the last bytes and check the document is complete (else truncated error)."""
        out = self.feed(data)
        self._closing = True
        try:
            self._parser.close()
        except etree.XMLSyntaxError as exc:
            # Everything given parsed; libxml2 only complains now about what stopped short.
            raise parse_failure(exc, ended_early=not self._ended) from None
        out.extend(self._take())
        return out

    def _take(self) -> list[R]:
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
    read; every block of one stream goes to the same thread (its own), as lxml wants.
    Raises `DirectoDecodeError`/`DirectoTruncatedError` when the document is bad or ends
    early, after the batches before the fault: a caller must treat the feed as
    all-or-nothing. Errors of ``chunks`` itself propagate unchanged.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    loop = asyncio.get_running_loop()
    # The thread starts with the first full block: a document smaller than one block (a
    # filtered feed, a put's answer) is parsed at once on the loop, which costs less than
    # the hand-offs.
    threaded: tuple[ThreadPoolExecutor, FeedDecoder[Any]] | None = None
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
            if threaded is None:
                worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="directo-decode")
                threaded = (worker, await loop.run_in_executor(worker, FeedDecoder, feed))
            worker, decoder = threaded
            if job is not None:
                pending.extend(await job)
                job = None
                while len(pending) >= batch_size:
                    yield pending[:batch_size]
                    del pending[:batch_size]
            job = loop.run_in_executor(worker, decoder.feed, data)
        if job is not None:
            pending.extend(await job)
            job = None
        if threaded is None:
            pending.extend(FeedDecoder(feed).close(bytes(block)))
        else:
            worker, decoder = threaded
            pending.extend(await loop.run_in_executor(worker, decoder.close, bytes(block)))
    finally:
        if job is not None:  # abandoned (consumer stopped or the stream failed)
            job.add_done_callback(_swallow)
        if threaded is not None:
            threaded[0].shutdown(wait=False)  # the thread ends after any abandoned block
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
    interpret the root (see `answers.error_for`).
    """
    stack: list[XmlNode] = []
    root: list[XmlNode] = []

    def start(name: str, attrs: Attrs) -> None:
        if len(stack) >= max_depth:
            raise DirectoDecodeError(f"XML nested deeper than {max_depth} levels")
        node = XmlNode(name, dict(attrs))
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(_: str) -> None:
        stack.pop()

    def text(chunk: str) -> None:
        if stack:
            stack[-1].text += chunk

    parser = new_parser(SimpleNamespace(start=start, end=end, data=text))
    try:
        parser.feed(data.encode() if isinstance(data, str) else data)
    except etree.XMLSyntaxError as exc:
        raise parse_failure(exc, ended_early=False) from None
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise parse_failure(exc, ended_early=not root or bool(stack)) from None
    return root[0]
