"""The streaming feed decoder on the published samples and on every document shape."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.directo import codec, feeds, schemas, values
from app.directo.errors import (
    DirectoDecodeError,
    DirectoInvalidUrl,
    DirectoResponseError,
    DirectoTokenMissing,
    DirectoTruncatedError,
    DirectoUnauthorized,
)
from tests.directo.conftest import sample


def _decode_in_pieces(feed: feeds.Feed[Any], data: bytes, size: int) -> list[Any]:
    decoder = codec.FeedDecoder[Any](feed)
    out: list[Any] = []
    for start in range(0, len(data), size):
        out.extend(decoder.feed(data[start : start + size]))
    out.extend(decoder.close())
    return out


def _assert_types_honest(records: list[Any]) -> None:
    for record in records:
        assert type(record).model_validate(record.model_dump()) == record


def test_customers_sample() -> None:
    [customer] = codec.decode_feed(feeds.CUSTOMERS, sample("customers.xml"))
    assert customer == schemas.DirectoCustomer(
        code="K0001",
        name="Näidis OÜ",
        regno="12345678",
        vatregno="EE101234567",
        address1="Pärnu mnt 10",
        address2="Tallinn",
        address3="10148",
        county="Harjumaa",
        country="EE",
        contact="Mari Maasikas",
        email="arved@naidis.ee",
        phone="+372 5555 1234",
        payterm="14",
        salesman="JAAN",
        currency="EUR",
        balance=Decimal("1220.00"),
        closed=False,
        ts=datetime(2025, 3, 4, 9, 15, 22),
        datafields=(
            schemas.DirectoDataField(
                code="EINVOICE",
                content="1",
                param=None,
                raw={"code": "EINVOICE", "content": "1", "param": ""},
            ),
        ),
        raw=customer.raw,
    )
    assert customer.raw["creditlimit"] == "5000.00"  # unknown-to-the-model attributes survive
    assert customer.raw["object"] == "TLN"
    assert len(customer.raw) == 23
    _assert_types_honest([customer])


def test_items_sample() -> None:
    [item] = codec.decode_feed(feeds.ITEMS, sample("items.xml"))
    assert (item.code, item.name, item.item_class, item.unit) == (
        "TEENUS01",
        "Konsultatsioon",
        "TEENUS",
        "h",
    )
    assert (item.salesprice, item.vatcode, item.closed) == (Decimal("60.00"), "24", False)
    assert item.ts == datetime(2025, 2, 1, 12, 0)
    assert item.datafields == ()
    assert item.raw["class_name"] == "Teenused"
    _assert_types_honest([item])


def test_invoices_sample_with_rows() -> None:
    [invoice] = codec.decode_feed(feeds.INVOICES, sample("invoices-output-inferred.xml"))
    assert invoice.model_dump(exclude={"raw", "rows"}) == {
        "number": "250101",
        "date": date(2025, 3, 1),
        "duedate": date(2025, 3, 15),
        "transactiondate": date(2025, 3, 1),
        "customercode": "K0001",
        "customername": "Näidis OÜ",
        "paymentterm": "14",
        "currency": "EUR",
        "salesman": "JAAN",
        "confirmed": True,
        "netamount": Decimal("1000.00"),
        "vat": Decimal("240.00"),
        "totalamount": Decimal("1240.00"),
        "balance": Decimal("0.00"),
        "ts": datetime(2025, 3, 10, 8, 2, 11),
    }
    [row] = invoice.rows
    assert row.model_dump(exclude={"raw"}) == {
        "rn": "1",
        "item": "TEENUS01",
        "description": "Konsultatsioon",
        "quantity": Decimal("16.67"),
        "price": Decimal("60.00"),
        "vatcode": "24",
        "account": "3010",
        "object": "TLN",
        "sum": Decimal("1000.00"),
    }
    _assert_types_honest([invoice])


def test_receipts_purchases_transactions_samples() -> None:
    [receipt] = codec.decode_feed(feeds.RECEIPTS, sample("receipts.xml"))
    assert (receipt.number, receipt.paymentmode, receipt.aeg, receipt.confirmed) == (
        "700012",
        "PANK",
        date(2025, 3, 12),
        True,
    )
    assert [(r.invoice, r.customer, r.received, r.invoicesum) for r in receipt.rows] == [
        ("250101", "K0001", Decimal("1240.00"), Decimal("0.00"))
    ]
    [purchase] = codec.decode_feed(feeds.PURCHASES, sample("purchases-inferred.xml"))
    assert (purchase.number, purchase.supplier, purchase.sum, purchase.vat, purchase.date) == (
        "310044",
        "H0007",
        Decimal("496.00"),
        Decimal("96.00"),
        date(2025, 3, 3),
    )
    [transaction] = codec.decode_feed(feeds.TRANSACTIONS, sample("transactions.xml"))
    assert transaction.type == "LAEK"
    assert [(r.account, r.debitamount, r.creditamount, r.object) for r in transaction.rows] == [
        ("1020", Decimal("1240.00"), Decimal("0"), None),
        ("1210", Decimal("0"), Decimal("1240.00"), None),
    ]
    _assert_types_honest([receipt, purchase, transaction])


def test_receipts_in_the_output_schemas_shape_are_dated_on_their_rows() -> None:
    first, second = codec.decode_feed(feeds.RECEIPTS, sample("receipts-rows-dated.xml"))
    assert (first.number, first.aeg, first.paymentmode, first.confirmed) == (
        "700031",
        None,
        None,
        True,
    )
    assert [(r.invoice, r.aeg, r.customer, r.received) for r in first.rows] == [
        ("250144", date(2025, 3, 31), "K0007", Decimal("310.00")),
        ("250150", date(2025, 4, 1), "K0007", Decimal("95.50")),
    ]
    assert [(r.customername, r.aeg) for r in second.rows] == [("Sepp & Pojad OÜ", date(2025, 4, 2))]
    assert first.raw == {"number": "700031", "confirmed": "1", "ts": "2025-04-02T09:15:40"}
    _assert_types_honest([first, second])


def test_items_keep_their_supplieritems_in_raw() -> None:
    body = (
        b'<transport><items><item code="A" name="Kohv"><datafields><data code="X"/></datafields>'
        b'<supplieritems><supplieritem supplier="H0007" supplieritem="K-1" name="Kohv 1kg"/>'
        b'<supplieritem supplier="H0009" sales="1"/></supplieritems></item>'
        b'<item code="B"><datafields/><supplieritems/></item></items></transport>'
    )
    first, second = codec.decode_feed(feeds.ITEMS, body)
    assert first.raw == {
        "code": "A",
        "name": "Kohv",
        "supplieritems": [
            {"supplier": "H0007", "supplieritem": "K-1", "name": "Kohv 1kg"},
            {"supplier": "H0009", "sales": "1"},
        ],
    }
    assert [field.code for field in first.datafields] == ["X"]  # modelled: not in raw
    assert second.raw == {"code": "B"}  # empty containers add nothing
    _assert_types_honest([first, second])


@pytest.mark.parametrize(
    ("ts", "local"),
    [
        ("2025-03-10T08:02:11", datetime(2025, 3, 10, 8, 2, 11)),
        ("2025-03-10T08:02:11+02:00", datetime(2025, 3, 10, 8, 2, 11)),  # Tallinn winter
        ("2025-03-10T06:02:11Z", datetime(2025, 3, 10, 8, 2, 11)),
        ("2025-07-10T05:02:11+00:00", datetime(2025, 7, 10, 8, 2, 11)),  # summer: +03:00
        ("2025-07-10T08:02:11+03:00", datetime(2025, 7, 10, 8, 2, 11)),
        ("10.07.2025 08:02:11", datetime(2025, 7, 10, 8, 2, 11)),
    ],
)
def test_timestamps_with_and_without_an_offset_are_directos_local_time(
    ts: str, local: datetime
) -> None:
    body = (
        f'<transport><customer code="K1" ts="{ts}"/>'
        f'<receipt number="1"><rows><row aeg="{ts}"/></rows></receipt></transport>'
    )
    [customer] = codec.decode_feed(feeds.CUSTOMERS, body.encode())
    [receipt] = codec.decode_feed(feeds.RECEIPTS, body.encode())
    assert customer.ts == local
    assert customer.ts.tzinfo is None
    assert receipt.rows[0].aeg == local.date()
    assert feeds.reader(feeds.CUSTOMERS, "ts")({"code": "K1", "ts": ts}) == local
    assert values.parse_datetime(ts) == local
    # One kind of value: comparing and ordering them never fails.
    assert sorted([customer.ts, datetime(2025, 1, 1)])[-1] == local


def test_records_directly_under_transport_dotted_dates_and_escapes() -> None:
    first, second = codec.decode_feed(feeds.RECEIPTS, sample("receipts-no-container.xml"))
    assert first.aeg == date(2025, 3, 12)
    assert first.ts == datetime(2025, 3, 12, 10, 41, 3)
    assert first.rows[0].customername == 'Ādažu & Ķekavas "Būve" SIA'
    assert (second.number, second.aeg, second.paymentmode, second.confirmed, second.rows) == (
        "700013",
        None,
        None,
        False,
        (),
    )
    assert second.ts == datetime(2025, 3, 13, 8, 15)


@pytest.mark.parametrize(
    "body",
    [
        b"<transport></transport>",
        b"<transport/>",
        sample("empty.xml"),
        b'<?xml version="1.0"?>\n<transport>\n  <customers/>\n</transport>\n',
        b"<transport><customers></customers></transport>",
    ],
)
def test_empty_feeds_decode_to_nothing(body: bytes) -> None:
    assert codec.decode_feed(feeds.CUSTOMERS, body) == []


def test_many_records_byte_by_byte_equal_whole() -> None:
    body = (
        "<transport><customers>"
        + "".join(f'<customer code="K{i}" name="Õun {i} ž" closed="{i % 2}"/>' for i in range(50))
        + "</customers></transport>"
    ).encode()
    whole = codec.decode_feed(feeds.CUSTOMERS, body)
    assert [(c.code, c.name, c.closed) for c in whole] == [
        (f"K{i}", f"Õun {i} ž", i % 2 == 1) for i in range(50)
    ]
    assert _decode_in_pieces(feeds.CUSTOMERS, body, 1) == whole
    assert _decode_in_pieces(feeds.CUSTOMERS, body, 7) == whole


def test_decoder_returns_records_as_soon_as_they_complete() -> None:
    decoder = codec.FeedDecoder[schemas.DirectoItem](feeds.ITEMS)
    assert decoder.feed(b'<transport><items><item code="A"/><item co') == [
        schemas.DirectoItem(code="A", raw={"code": "A"})
    ]
    assert [item.code for item in decoder.feed(b'de="B"/>')] == ["B"]
    assert decoder.close(b"</items></transport>") == []


def test_unknown_child_containers_go_to_raw_and_deeper_elements_are_ignored() -> None:
    body = (
        b'<transport><items><item code="A"><supplieritems><supplieritem supplier="S1">'
        b"<deep><deeper/></deep></supplieritem></supplieritems><datafields>"
        b'<data code="X" content="y" param="z"/></datafields></item></items></transport>'
    )
    [item] = codec.decode_feed(feeds.ITEMS, body)
    assert item.datafields == (
        schemas.DirectoDataField(
            code="X", content="y", param="z", raw={"code": "X", "content": "y", "param": "z"}
        ),
    )
    assert item.raw == {"code": "A", "supplieritems": [{"supplier": "S1"}]}


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (sample("unauthorized.xml"), DirectoUnauthorized, "Unauthorized"),
        (sample("token-required.xml"), DirectoTokenMissing, "token required"),
        (sample("invalid-url.xml"), DirectoInvalidUrl, "type 404"),
        (
            b'<results><Result Type="5" Desc="Unauthorized"/></results>',
            DirectoUnauthorized,
            "type 5",
        ),
        (b'<results><Result Type="9" Desc="x"/></results>', DirectoResponseError, "type 9"),
        ('<error desc="Vale võti" code="16"/>'.encode(), DirectoUnauthorized, "error 16"),
        ('<error code="3">Midagi läks valesti</error>'.encode(), DirectoResponseError, "läks"),
        (b"<err>something else</err>", DirectoResponseError, "something else"),
        (b"<html><body>Login</body></html>", DirectoResponseError, "unexpected <html>"),
    ],
)
def test_error_documents_raise_even_on_a_feed(
    body: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        codec.decode_feed(feeds.CUSTOMERS, body)
    assert type(caught.value) is error


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'<transport><customers><customer code="K1"/>',
        b"<transport><customers><cust",
        b'<transport><customer name="\xc3',
    ],
)
def test_truncated_bodies_are_refused_as_truncated(body: bytes) -> None:
    with pytest.raises(DirectoTruncatedError, match="ended early") as caught:
        codec.decode_feed(feeds.CUSTOMERS, body)
    assert caught.value.retryable is True
    assert caught.value.code == "truncated_response"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<transport><customer code='1'></transport>", "mismatched tag"),
        (b"<transport/><transport/>", "junk after document element"),
        (b"<transport>&nbsp;</transport>", "undefined entity"),
        (b'<transport><customer code="K1" balance="12,50"/></transport>', "Customer 'balance'"),
        (b'<transport><customer code="K1" ts="soon"/></transport>', "Customer 'ts'"),
        (b"not xml at all", "syntax error"),
    ],
)
def test_malformed_bodies_are_decode_errors(body: bytes, message: str) -> None:
    with pytest.raises(DirectoDecodeError, match=message) as caught:
        codec.decode_feed(feeds.CUSTOMERS, body)
    assert type(caught.value) is DirectoDecodeError
    assert caught.value.retryable is False


async def _chunks(data: bytes, size: int) -> Any:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_decode_stream_batches_off_the_loop() -> None:
    body = (
        "<transport><items>"
        + "".join(f'<item code="I{i}"/>' for i in range(2500))
        + "</items></transport>"
    ).encode()
    batches = [
        batch
        async for batch in codec.decode_stream(
            feeds.ITEMS, _chunks(body, 1000), batch_size=1000, chunk_bytes=4096
        )
    ]
    assert [len(batch) for batch in batches] == [1000, 1000, 500]
    assert [item.code for batch in batches for item in batch] == [f"I{i}" for i in range(2500)]


async def test_decode_stream_raises_after_partial_batches_when_cut() -> None:
    body = ("<transport><items>" + "".join(f'<item code="I{i}"/>' for i in range(3000))).encode()
    seen: list[int] = []

    async def consume() -> None:
        stream = codec.decode_stream(
            feeds.ITEMS, _chunks(body, 512), batch_size=100, chunk_bytes=2048
        )
        async for batch in stream:
            seen.append(len(batch))

    with pytest.raises(DirectoTruncatedError):
        await consume()
    assert 0 < sum(seen) < 3000  # what came before the fault was marked unusable by the raise


async def test_decode_stream_rejects_a_zero_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        async for _ in codec.decode_stream(feeds.ITEMS, _chunks(b"", 1), batch_size=0):
            pass


def test_parse_document_builds_a_small_tree() -> None:
    root = codec.parse_document("<a x='1'><b>tekst õ</b><b/><c><b y='2'/></c></a>")
    assert (root.tag, root.attrs) == ("a", {"x": "1"})
    assert [(node.attrs, node.text) for node in root.iter("b")] == [
        ({}, "tekst õ"),
        ({}, ""),
        ({"y": "2"}, ""),
    ]
