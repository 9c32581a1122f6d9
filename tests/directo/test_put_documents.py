"""Rendering invoice input and reading put answers (examples and properties)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.directo import codec, feeds, results
from app.directo.errors import (
    DirectoDecodeError,
    DirectoPutRejected,
    DirectoResponseError,
    DirectoTokenMissing,
    DirectoUnauthorized,
)
from app.directo.render import render_invoices
from app.directo.sandbox.xml import element
from app.directo.schemas import (
    DirectoInvoiceInput,
    DirectoInvoiceRowInput,
    PutResult,
    PutResultKind,
)
from tests.directo.conftest import sample

INVOICE = DirectoInvoiceInput(
    number=250102,
    customercode="K0001",
    customername="Näidis OÜ",
    date=date(2025, 3, 20),
    duedate=date(2025, 4, 3),
    paymentterm="14",
    currency="EUR",
    vatzone="0",
    language="EST",
    comment="Märts 2025",
    confirm=True,
    rows=(
        DirectoInvoiceRowInput(
            item="TEENUS01",
            description="Konsultatsioon",
            quantity=Decimal("10"),
            price=Decimal("60.00"),
            vatcode="24",
            object="TLN",
            unit="h",
        ),
        DirectoInvoiceRowInput(
            item="TRANSPORT",
            description="Sõidukulud",
            quantity=Decimal(1),
            price=Decimal("25.00"),
            vatcode="24",
        ),
    ),
)


def test_render_matches_the_published_invoice_input_sample() -> None:
    rendered = codec.parse_document(render_invoices([INVOICE]))
    published = codec.parse_document(sample("invoice-input.xml"))
    assert [node.attrs for node in rendered.iter("invoice")] == [
        node.attrs for node in published.iter("invoice")
    ]
    assert [node.attrs for node in rendered.iter("row")] == [
        node.attrs for node in published.iter("row")
    ]


def test_render_omits_unset_attributes_and_confirms_only_when_asked() -> None:
    draft = DirectoInvoiceInput(
        number=7,
        customercode="K1",
        date=date(2025, 1, 2),
        rows=(DirectoInvoiceRowInput(item="A", quantity=Decimal("1.5"), price=Decimal("1E+1")),),
    )
    assert render_invoices([draft]) == (
        '<?xml version="1.0" encoding="utf-8"?><invoices><invoice number="7" customercode="K1" '
        'date="2025-01-02"><rows><row item="A" quantity="1.5" price="10"/></rows></invoice>'
        "</invoices>"
    )
    assert render_invoices([]) == '<?xml version="1.0" encoding="utf-8"?><invoices></invoices>'


def test_render_refuses_characters_xml_cannot_carry() -> None:
    bad = DirectoInvoiceInput(number=1, customercode="K\x01", date=date(2025, 1, 1))
    with pytest.raises(ValueError, match="'customercode' holds a control character"):
        render_invoices([bad])


def test_invoice_number_is_bounded_like_directo() -> None:
    with pytest.raises(ValueError, match="less than or equal to 2147483647"):
        DirectoInvoiceInput(number=2_147_483_648, customercode="K", date=date(2025, 1, 1))


XML_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters=[chr(c) for c in range(0x20) if c not in (9, 10, 13)]
        + ["\ufffe", "\uffff"],
    ),
    max_size=40,
)
DECIMALS = st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(
    name=XML_TEXT,
    description=XML_TEXT,
    comment=XML_TEXT,
    quantity=DECIMALS,
    price=DECIMALS,
    confirm=st.booleans(),
)
def test_render_then_parse_round_trips_any_text(
    name: str, description: str, comment: str, quantity: Decimal, price: Decimal, confirm: bool
) -> None:
    invoice = DirectoInvoiceInput(
        number=42,
        customercode="K0001",
        customername=name,
        comment=comment,
        date=date(2025, 5, 1),
        confirm=confirm,
        rows=(
            DirectoInvoiceRowInput(
                item="X", description=description, quantity=quantity, price=price
            ),
        ),
    )
    root = codec.parse_document(render_invoices([invoice]))
    [header] = root.iter("invoice")
    [row] = root.iter("row")
    assert header.attrs == {
        "number": "42",
        "customercode": "K0001",
        "customername": name,
        "comment": comment,
        "date": "2025-05-01",
        **({"confirm": "1"} if confirm else {}),
    }
    assert (
        row.attrs["description"],
        Decimal(row.attrs["quantity"]),
        Decimal(row.attrs["price"]),
    ) == (description, quantity, price)


@settings(max_examples=150, deadline=None)
@given(
    attrs=st.dictionaries(
        st.sampled_from(["name", "email", "address1", "contact", "x_unknown"]), XML_TEXT, max_size=5
    ),
    split=st.integers(min_value=1, max_value=64),
)
def test_feed_records_round_trip_any_text_in_any_chunking(
    attrs: dict[str, str], split: int
) -> None:
    record = {"code": "K1", **attrs}
    body = f"<transport><customers>{element('customer', (record, {}))}</customers></transport>"
    data = body.encode()
    decoder = codec.FeedDecoder[Any](feeds.CUSTOMERS)
    decoded: list[Any] = []
    for start in range(0, len(data), split):
        decoded.extend(decoder.feed(data[start : start + split]))
    decoded.extend(decoder.close())
    [customer] = decoded
    assert customer.raw == record
    assert customer.name == (attrs.get("name") or None)


def test_put_results_sample() -> None:
    parsed = results.parse_put_response(sample("put-results.xml"))
    assert [(r.type, r.kind, r.docid, r.ok) for r in parsed] == [
        (0, PutResultKind.CREATED, "100034", True),
        (30, PutResultKind.CREATED, "100035", True),
        (11, PutResultKind.DUPLICATE, None, False),
        (13, PutResultKind.CUSTOMER_MISSING_REGNO_OR_EMAIL, None, False),
    ]
    assert parsed[1] == PutResult(
        type=30,
        desc="Created",
        docid="100035",
        doctype="ARVE",
        submit="Invoices",
        kind=PutResultKind.CREATED,
        hint="Stored in Directo.",
    )


@pytest.mark.parametrize(
    ("type_", "desc", "kind"),
    [
        (8, "Invalid xml given", PutResultKind.INVALID_XML),
        (9, "Error on import", PutResultKind.IMPORT_ERROR),
        (9, "Artikkel puudub: X1", PutResultKind.ARTICLE_UNKNOWN),
        (12, "Missing document identificator", PutResultKind.MISSING_NUMBER),
        (14, "Update not allowed", PutResultKind.CONFIRMED_LOCKED),
        (29, "Tasumisviisi ei leitud", PutResultKind.NOT_CONFIRMED),
        (31, "Article not found: X1", PutResultKind.ARTICLE_UNKNOWN),
        (31, "VAT code not found: 77", PutResultKind.VAT_CODE_UNKNOWN),
        (31, "Salesman not found: ZZ", PutResultKind.SALESMAN_UNKNOWN),
        (31, "Object not found: ZZ", PutResultKind.OBJECT_UNKNOWN),
        (31, "Customer not found: K9", PutResultKind.CUSTOMER_UNKNOWN),
        (31, "Project not found", PutResultKind.NOT_FOUND),
        (5, "Unauthorized", PutResultKind.UNAUTHORIZED),
        (99, "No processable XML data found", PutResultKind.NO_DATA),
        (42, "Something new", PutResultKind.OTHER),
    ],
)
def test_result_types_map_to_kinds(type_: int, desc: str, kind: PutResultKind) -> None:
    result = results.put_result(type_, desc)
    assert result.kind is kind
    error = results.rejection(result)
    assert isinstance(error, DirectoPutRejected)
    assert (error.code, error.kind_code, error.result) == ("put_rejected", kind.value, result)
    assert error.hint == result.hint
    assert f"Type {type_}" in str(error)


def test_success_is_not_a_rejection() -> None:
    assert results.rejection(results.put_result(30, "Created")) is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (sample("unauthorized.xml"), DirectoUnauthorized),
        (sample("token-required.xml"), DirectoTokenMissing),
        (sample("invalid-url.xml"), DirectoResponseError),
        (sample("customers.xml"), DirectoResponseError),
        (b"<results><Result Type=", DirectoDecodeError),
    ],
)
def test_put_answers_that_are_not_results_raise(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        results.parse_put_response(body)


def test_a_result_without_a_numeric_type_is_not_read_as_a_refusal() -> None:
    # Whether such a document was stored cannot be told: the client makes it an unknown
    # outcome (see test_answers.py), never "refused, stored nothing".
    with pytest.raises(DirectoResponseError, match="without a Type: '\\?'") as caught:
        results.parse_put_response(b'<results><Result Type="" Desc="?"/></results>')
    assert type(caught.value) is DirectoResponseError
