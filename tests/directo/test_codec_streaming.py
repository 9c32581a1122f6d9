"""The lxml feed decoder under arbitrary chunking, truncation and the builder's shortcuts."""

from __future__ import annotations

import decimal
import threading
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.directo import codec, feeds, schemas
from app.directo.errors import (
    DirectoDecodeError,
    DirectoError,
    DirectoTokenMissing,
    DirectoTruncatedError,
)
from app.directo.sandbox.xml import element

# Any character XML 1.0 allows, so multi-byte UTF-8 (2-4 bytes), markup characters that
# need escaping (& < > " ') and whitespace that must survive as character references.
XML_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters=[chr(c) for c in range(0x20) if c not in (9, 10, 13)]
        + ["\ufffe", "\uffff"],
    ),
    max_size=30,
)
CUSTOMER = st.fixed_dictionaries(
    {"code": st.text(alphabet="K0123456789", min_size=1, max_size=6)},
    optional={"name": XML_TEXT, "email": XML_TEXT, "x_unknown": XML_TEXT, "closed": st.just("1")},
)
DATAFIELD = st.fixed_dictionaries({"code": XML_TEXT, "content": XML_TEXT})


def _document(customers: list[tuple[dict[str, str], list[dict[str, str]]]]) -> bytes:
    body = "".join(
        element("customer", (attrs, {"datafields": data} if data else {}))
        for attrs, data in customers
    )
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    return f"{head}<transport><customers>{body}</customers></transport>".encode()


def _decode_split(data: bytes, cuts: list[int]) -> list[Any]:
    decoder = codec.FeedDecoder[Any](feeds.CUSTOMERS)
    out: list[Any] = []
    start = 0
    for cut in sorted(set(cuts)):
        out.extend(decoder.feed(data[start:cut]))
        start = cut
    out.extend(decoder.close(data[start:]))
    return out


@settings(max_examples=150, deadline=None)
@given(
    customers=st.lists(st.tuples(CUSTOMER, st.lists(DATAFIELD, max_size=2)), max_size=6),
    data=st.data(),
)
def test_any_chunking_decodes_like_the_whole_document(
    customers: list[tuple[dict[str, str], list[dict[str, str]]]], data: st.DataObject
) -> None:
    body = _document(customers)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(body)), max_size=12))
    decoded = _decode_split(body, cuts)
    assert decoded == codec.decode_feed(feeds.CUSTOMERS, body)
    assert [record.raw for record in decoded] == [attrs for attrs, _ in customers]
    assert [[entry.raw for entry in record.datafields] for record in decoded] == [
        data_ for _, data_ in customers
    ]
    assert [record.name for record in decoded] == [a.get("name") or None for a, _ in customers]


def test_every_cut_inside_attribute_values_and_utf8_characters_parses() -> None:
    attrs = {"code": "K1", "name": "Õun & 😀 <ž> \"a\" 'b'\tc\nd", "email": "ä@ö.ee"}
    body = _document([(attrs, [{"code": "EINVOICE", "content": "ĀŽ€𝄞"}])])
    inside_utf8 = [cut for cut in range(1, len(body)) if body[cut] & 0xC0 == 0x80]
    assert len(inside_utf8) > 10  # the cuts below really split multi-byte characters
    for cut in range(len(body) + 1):
        [customer] = _decode_split(body, [cut])
        assert customer.raw == attrs
        assert customer.datafields[0].content == "ĀŽ€𝄞"


def test_every_proper_prefix_is_truncated() -> None:
    attrs = {"code": "K1", "name": "Õun ž"}
    body = _document([(attrs, [{"code": "A", "content": "1"}]), ({"code": "K2"}, [])])
    body += b"\n"
    for end in range(len(body.rstrip())):
        with pytest.raises(DirectoTruncatedError, match="ended early"):
            codec.decode_feed(feeds.CUSTOMERS, body[:end])
    assert len(codec.decode_feed(feeds.CUSTOMERS, body)) == 2


def test_references_whitespace_comments_and_cdata() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!-- made by Directo -->\n<transport>\n  <customers>\n'
        b'    <customer code="K1" name="A &amp; B &#38; C &#x263A;&#10;&lt;x&gt;"><?pi x?>\n'
        b"      <datafields><![CDATA[ignored]]><data code='X' content='&quot;q&apos;'/>"
        b"</datafields>\n    </customer>\n  </customers>\n</transport>\n"
    )
    [customer] = codec.decode_feed(feeds.CUSTOMERS, body)
    assert customer.name == "A & B & C ☺\n<x>"
    assert customer.datafields[0].content == "\"q'"


def test_err_text_across_chunks_and_cdata() -> None:
    decoder = codec.FeedDecoder[Any](feeds.CUSTOMERS)
    assert decoder.feed(b"<err>tok") == []
    with pytest.raises(DirectoTokenMissing):
        decoder.close(b"en <![CDATA[required]]></err>")


def test_a_record_whose_children_pass_the_depth_cap_is_refused() -> None:
    body = b"<transport>" + b"<a>" * 29 + b'<customer code="1"><datafields><data/>'
    with pytest.raises(DirectoDecodeError, match="deeper than 32"):
        codec.FeedDecoder[Any](feeds.CUSTOMERS).feed(body)


@pytest.mark.parametrize("value", ["NaN", "-Infinity", "sNaN", "inf", "12,50", "1.2.3", " "])
def test_bad_decimals_are_refused_whatever_the_thread_context(value: str) -> None:
    body = f'<transport><customer code="K1" balance="{value}"/></transport>'.encode()
    with decimal.localcontext() as context:
        context.traps[decimal.InvalidOperation] = False  # would turn junk into NaN
        with pytest.raises(DirectoDecodeError, match="Customer 'balance'"):
            codec.decode_feed(feeds.CUSTOMERS, body)


def test_decimals_are_exact_whatever_the_thread_context() -> None:
    digits = "1234567890123456789012345678901234.56"
    body = f'<transport><customer code="K1" balance="{digits}"/></transport>'.encode()
    with decimal.localcontext() as context:
        context.prec = 5
        [customer] = codec.decode_feed(feeds.CUSTOMERS, body)
    assert customer.balance == Decimal(digits)


def test_records_share_a_complete_fields_set_that_copies_do_not_touch() -> None:
    first, second = codec.decode_feed(
        feeds.CUSTOMERS,
        b'<transport><customer code="K1"/><customer code="K2" name="B"/></transport>',
    )
    assert first.model_fields_set == set(schemas.DirectoCustomer.model_fields)
    changed = first.model_copy(update={"name": "X"})
    assert changed.name == "X"
    assert second.model_fields_set == set(schemas.DirectoCustomer.model_fields)
    assert schemas.DirectoCustomer.model_validate(second.model_dump()) == second


async def _pieces(data: bytes, size: int) -> Any:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_decode_stream_parses_every_block_on_one_thread_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: set[int] = set()
    feed, close = codec.FeedDecoder.feed, codec.FeedDecoder.close

    def spy_feed(self: codec.FeedDecoder[Any], data: bytes) -> list[Any]:
        threads.add(threading.get_ident())
        return feed(self, data)

    def spy_close(self: codec.FeedDecoder[Any], data: bytes = b"") -> list[Any]:
        threads.add(threading.get_ident())
        return close(self, data)

    monkeypatch.setattr(codec.FeedDecoder, "feed", spy_feed)
    monkeypatch.setattr(codec.FeedDecoder, "close", spy_close)
    body = _document([({"code": f"K{i}", "name": "Õun"}, []) for i in range(500)])
    batches = [
        len(batch)
        async for batch in codec.decode_stream(
            feeds.CUSTOMERS, _pieces(body, 333), batch_size=200, chunk_bytes=1024
        )
    ]
    assert batches == [200, 200, 100]
    assert len(threads) == 1
    assert threading.get_ident() not in threads


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'<results><Result Type="5" Desc="Unauthorized"/></results>', "DirectoUnauthorized"),
        (b"<err>token required</err>", "DirectoTokenMissing"),
    ],
)
def test_a_cut_error_document_is_truncated_or_its_own_error(body: bytes, error: str) -> None:
    for end in range(len(body)):
        with pytest.raises((DirectoTruncatedError, DirectoError)) as caught:
            codec.decode_feed(feeds.CUSTOMERS, body[:end])
        assert type(caught.value).__name__ in {"DirectoTruncatedError", error}, body[:end]
