"""Hostile XML: every DTD is refused at once, deep nesting is capped, nothing expands."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from app.directo import codec, feeds, results
from app.directo.errors import DirectoDecodeError

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']><transport><customers><customer code="&lol9;"/></customers></transport>'
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<transport><customer code="&xxe;"/></transport>'
)
PARAMETER_XXE = (
    b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd">'
    b"%remote;]><transport/>"
)
EXTERNAL_DTD = (
    b'<?xml version="1.0"?><!DOCTYPE transport SYSTEM "http://127.0.0.1:9/t.dtd"><transport/>'
)
# A single entity declared to expand to ~1 GB (2**30 bytes) through doubling.
HUGE_EXPANSION = (
    b'<!DOCTYPE t [<!ENTITY a0 "'
    + b"x" * 1024
    + b'">'
    + b"".join(f'<!ENTITY a{i} "&a{i - 1};&a{i - 1};">'.encode() for i in range(1, 21))
    + b']><transport><customer code="&a20;"/></transport>'
)
DEEP = b"<transport>" + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</transport>"
DEEP_IN_RECORD = (
    b"<transport><customer code='1'>"
    + b"<a>" * 10_000
    + b"</a>" * 10_000
    + b"</customer></transport>"
)
HOSTILE = [BILLION_LAUGHS, XXE, PARAMETER_XXE, EXTERNAL_DTD, HUGE_EXPANSION]


def _refused_cheaply(parse: Any, body: bytes, message: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(DirectoDecodeError, match=message):
            parse(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024  # refused before any expansion (no entity was built)


@pytest.mark.parametrize(
    "body", HOSTILE, ids=["billion-laughs", "xxe", "param-xxe", "external-dtd", "1gb"]
)
def test_feed_decoder_refuses_any_dtd_fast(body: bytes) -> None:
    _refused_cheaply(lambda data: codec.decode_feed(feeds.CUSTOMERS, data), body, "DOCTYPE/ENTITY")


@pytest.mark.parametrize(
    "body", HOSTILE, ids=["billion-laughs", "xxe", "param-xxe", "external-dtd", "1gb"]
)
def test_small_documents_refuse_any_dtd_fast(body: bytes) -> None:
    _refused_cheaply(codec.parse_document, body, "DOCTYPE/ENTITY")
    _refused_cheaply(results.parse_put_response, body, "DOCTYPE/ENTITY")


def test_dtd_is_refused_even_when_it_arrives_split_across_chunks() -> None:
    decoder = codec.FeedDecoder[Any](feeds.CUSTOMERS)
    assert decoder.feed(BILLION_LAUGHS[:20]) == []
    with pytest.raises(DirectoDecodeError, match="DOCTYPE/ENTITY"):
        decoder.feed(BILLION_LAUGHS[20:])


@pytest.mark.parametrize("body", [DEEP, DEEP_IN_RECORD], ids=["under-root", "inside-record"])
def test_deep_nesting_is_capped(body: bytes) -> None:
    _refused_cheaply(lambda data: codec.decode_feed(feeds.CUSTOMERS, data), body, "deeper than 32")
    _refused_cheaply(codec.parse_document, body, "deeper than 32")


def test_an_undeclared_entity_is_malformed_not_expanded() -> None:
    with pytest.raises(DirectoDecodeError, match="undefined entity"):
        codec.decode_feed(feeds.CUSTOMERS, b'<transport><customer code="&xxe;"/></transport>')
