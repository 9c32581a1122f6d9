"""Seed 001's export rules, as pure functions: number, payment term, code resolution, seller,
confirmation — and every problem reported at once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.exports.mapping import map_invoice
from app.exports.rules import (
    DIRECTO_MAX_NUMBER,
    MappingProblem,
    directo_number,
    payment_term_days,
)
from app.exports.schemas import InvoiceIn


def invoice(**overrides: Any) -> InvoiceIn:
    base: dict[str, Any] = {
        "number": "INV-2026-0042",
        "invoice_date": "2026-03-02",
        "due_date": "2026-03-16",
        "client_id": "client-1",
        "rows": [
            {
                "article_code": "TEENUS01",
                "description": "Raamatupidamine",
                "quantity": "10",
                "unit_price": "60.00",
                "vat_code": {"id": "vat24", "name": "24%", "external_code": "24"},
                "resource_id": "res-mari",
            }
        ],
        "resources": [
            {"id": "res-mari", "name": "Mari", "external_code": "MARI"},
            {"id": "res-jaan", "name": "Jaan", "external_code": "JAAN"},
            {"id": "res-nocode", "name": "Uus töötaja"},
        ],
        "billing": {},
    }
    base.update(overrides)
    return InvoiceIn.model_validate(base)


def row(**overrides: Any) -> dict[str, Any]:
    base = invoice().rows[0].model_dump(mode="json")
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("INV-2026-0042", 20260042),
        ("42", 42),
        ("A-0007", 7),
        ("2026/03-15", 20260315),
        ("999999999", 999999999),
        ("INV-0000000000042", 42),  # leading zeros are not digits of the number
    ],
)
def test_number_is_the_digits_in_order(number: str, expected: int) -> None:
    assert directo_number(number) == expected


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("INV-", "invoice_number_invalid"),
        ("ARVE", "invoice_number_invalid"),
        ("0000", "invoice_number_invalid"),
        ("INV-2026-١٢", "invoice_number_invalid"),  # Arabic-Indic digits are not dropped
        ("INV-２０２６-0042", "invoice_number_invalid"),  # nor full-width ones
        ("INV-2026²", "invoice_number_invalid"),
        ("1000000000", "invoice_number_too_long"),  # ten digits: Directo's int has nine
        ("2147483647", "invoice_number_too_long"),
        ("INV-2026-00000042-99", "invoice_number_too_long"),
    ],
)
def test_numbers_directo_cannot_take_are_refused(number: str, code: str) -> None:
    with pytest.raises(MappingProblem) as problem:
        directo_number(number)
    assert (problem.value.item.code, problem.value.item.loc) == (code, ["number"])
    assert problem.value.item.fix


def test_foreign_digits_are_named_in_the_message() -> None:
    with pytest.raises(MappingProblem) as problem:
        directo_number("INV-2026-١٢")
    assert problem.value.item.message == (
        "Invoice number 'INV-2026-١٢' holds digits other than 0–9: '١' (U+0661), '٢' (U+0662)."
        " Directo numbers are made of the invoice number's digits 0–9 only."
    )


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_number_rule_property(number: str) -> None:
    digits = "".join(c for c in number if c in "0123456789")
    foreign = any(c.isnumeric() and c not in "0123456789" for c in number)
    if not foreign and digits and 0 < int(digits) <= DIRECTO_MAX_NUMBER:
        assert directo_number(number) == int(digits)
        assert len(str(directo_number(number))) <= 9
    else:
        with pytest.raises(MappingProblem):
            directo_number(number)


def test_mapped_term_codes_replace_the_day_count_and_the_due_date_is_always_sent() -> None:
    codes = {14: "N14", 30: "30P"}
    document = map_invoice(invoice(), customer_code="K1", auto_confirm=False, term_codes=codes)
    assert document.document is not None
    assert (document.document.paymentterm, document.document.duedate) == (
        "N14",
        dt.date(2026, 3, 16),
    )
    unmapped = map_invoice(
        invoice(due_date="2026-03-09"), customer_code="K1", auto_confirm=False, term_codes=codes
    ).document
    assert unmapped is not None
    assert (unmapped.paymentterm, unmapped.duedate) == ("7", dt.date(2026, 3, 9))


def test_payment_term_is_days_between_dates_or_the_clients_period() -> None:
    d = dt.date
    assert payment_term_days(d(2026, 3, 2), d(2026, 3, 16), default_days=None) == 14
    assert payment_term_days(d(2026, 3, 2), d(2026, 3, 2), default_days=None) == 0
    assert payment_term_days(d(2024, 2, 28), d(2024, 3, 1), default_days=None) == 2  # leap day
    assert payment_term_days(d(2026, 3, 2), None, default_days=21) == 21
    with pytest.raises(MappingProblem, match="before the invoice date") as late:
        payment_term_days(d(2026, 3, 2), d(2026, 3, 1), default_days=None)
    assert late.value.item.code == "payment_term_invalid"
    with pytest.raises(MappingProblem) as missing:
        payment_term_days(d(2026, 3, 2), None, default_days=None)
    assert missing.value.item.code == "payment_term_missing"


def test_the_seed_example_maps_to_a_draft() -> None:
    mapped = map_invoice(invoice(), customer_code="K0001", auto_confirm=False)
    assert mapped.problems == []
    document = mapped.document
    assert document is not None
    assert (document.number, document.customercode, document.paymentterm) == (
        20260042,
        "K0001",
        "14",
    )
    assert (document.date, document.duedate) == (dt.date(2026, 3, 2), dt.date(2026, 3, 16))
    assert document.confirm is False
    assert document.salesman == "MARI"  # no default user: the first resource code on the rows
    [first] = document.rows
    assert (first.item, first.vatcode, first.object, first.quantity, first.price) == (
        "TEENUS01",
        "24",
        "MARI",
        Decimal("10"),
        Decimal("60.00"),
    )


def test_confirmed_only_when_auto_confirm_is_on() -> None:
    document = map_invoice(invoice(), customer_code="K0001", auto_confirm=True).document
    assert document is not None
    assert document.confirm is True


def test_row_code_resolution_falls_back_in_order() -> None:
    billing_default_resource = {"default_resource_id": "res-jaan"}
    default_user = {"id": "u1", "name": "Pille", "external_code": "PILLE"}
    cases: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        (row(), {}, "MARI"),  # the row's own resource
        (row(resource_id=None), billing_default_resource, "JAAN"),  # client's default resource
        (
            row(resource_id=None),
            {"default_resource_is_default_user": True, "default_user": default_user},
            "PILLE",
        ),
    ]
    for invoice_row, billing, expected in cases:
        document = map_invoice(
            invoice(rows=[invoice_row], billing=billing), customer_code="K1", auto_confirm=False
        ).document
        assert document is not None
        assert document.rows[0].object == expected


def test_default_user_is_not_used_for_rows_without_the_flag() -> None:
    billing = {"default_user": {"id": "u1", "external_code": "PILLE"}}
    mapped = map_invoice(
        invoice(rows=[row(resource_id=None)], billing=billing),
        customer_code="K1",
        auto_confirm=False,
    )
    assert [problem.code for problem in mapped.problems] == ["salesman_code_missing"]
    assert mapped.problems[0].loc == ["rows", 0, "resource_id"]
    assert "Row 1" in mapped.problems[0].message


def test_seller_is_the_default_users_code_else_the_first_row_resource() -> None:
    with_user = invoice(billing={"default_user": {"id": "u1", "external_code": "PILLE"}})
    document = map_invoice(with_user, customer_code="K1", auto_confirm=False).document
    assert document is not None
    assert document.salesman == "PILLE"
    rows = [row(resource_id="res-jaan"), row(resource_id="res-mari")]
    document = map_invoice(invoice(rows=rows), customer_code="K1", auto_confirm=False).document
    assert document is not None
    assert document.salesman == "JAAN"


def test_every_problem_is_reported_at_once() -> None:
    bad = invoice(
        number="ARVE",
        due_date="2026-03-01",
        rows=[
            row(resource_id="res-nocode"),
            row(vat_code={"id": "vat0", "name": "0%"}),
            row(resource_id=None),
        ],
    )
    mapped = map_invoice(bad, customer_code="K1", auto_confirm=False)
    assert mapped.document is None
    assert [(problem.code, problem.loc) for problem in mapped.problems] == [
        ("invoice_number_invalid", ["number"]),
        ("payment_term_invalid", ["due_date"]),
        ("salesman_code_missing", ["rows", 0, "resource_id"]),
        ("vat_code_missing", ["rows", 1, "vat_code", "external_code"]),
        ("salesman_code_missing", ["rows", 2, "resource_id"]),
    ]
    nocode = mapped.problems[2]
    assert (
        nocode.message == "Resource 'Uus töötaja' has no external (Directo object/salesman) code."
    )
    assert (
        nocode.fix == "Set the external code of resource 'Uus töötaja' in Uku to its Directo code."
    )
    assert all(problem.fix for problem in mapped.problems)


def test_missing_due_date_uses_the_clients_payment_period() -> None:
    document = map_invoice(
        invoice(due_date=None, billing={"due_date_days": 7}), customer_code="K1", auto_confirm=False
    ).document
    assert document is not None
    assert (document.paymentterm, document.duedate) == ("7", dt.date(2026, 3, 9))
