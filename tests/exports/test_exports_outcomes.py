"""Reading Directo's answers and invoices — pure functions: result → export problem,
"is this invoice ours?", the answer kept as XML, and an invoice's payment figures."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.directo.results import put_result
from app.directo.schemas import DirectoInvoice, DirectoInvoiceRow
from app.exports.outcomes import answer_xml, duplicate_problem, is_ours, problem_for
from app.payments.status import read_invoice

ROWS = [
    {"item": "RAAMAT", "vatcode": "24", "object": "MARI"},
    {"item": "KONS", "vatcode": "KMV", "object": "JYRI"},
]


@pytest.mark.parametrize(
    ("type_", "desc", "code", "loc"),
    [
        (31, "Article not found: KONS", "article_unknown", ["rows", 1, "article_code"]),
        (31, "VAT code not found: KMV", "vat_code_unknown", ["rows", 1, "vat_code"]),
        (31, "Salesman not found: MARI", "salesman_unknown", ["rows", 0, "resource_id"]),
        (31, "Object not found: JYRI", "salesman_unknown", ["rows", 1, "resource_id"]),
        (9, "Error on import: artikkel puudub", "article_unknown", []),
        (31, "Customer not found: K9", "customer_unknown", []),
        (13, "Missing customer email or reg.no", "customer_missing_regno_or_email", []),
        (5, "Unauthorized", "unauthorized", []),
        (8, "Invalid xml given", "invalid_xml", []),
        (77, "Something else", "other", []),
    ],
)
def test_failing_results_map_to_codes_with_fixes_and_keep_directos_words(
    type_: int, desc: str, code: str, loc: list[str | int]
) -> None:
    problem = problem_for(put_result(type_, desc), ROWS)
    assert (problem.code, problem.loc) == (code, loc)
    assert problem.fix
    assert problem.context is not None
    assert (problem.context["directo_type"], problem.context["directo_desc"]) == (type_, desc)
    assert desc in problem.message


def test_a_code_is_only_found_as_a_whole_word() -> None:
    problem = problem_for(put_result(31, "Article not found: RAAMATX"), ROWS)
    assert (problem.code, problem.loc) == ("article_unknown", [])


def test_duplicate_names_what_directo_holds() -> None:
    found = DirectoInvoice(number="42", customercode="K2", netamount=Decimal("10.00"))
    problem = duplicate_problem(42, found, put_result(11, "Duplicate"))
    assert problem.code == "duplicate_number"
    assert "'K2'" in problem.message
    assert problem.context == {"number": 42, "directo_type": 11, "directo_desc": "Duplicate"}
    assert duplicate_problem(42, None, None).context == {"number": 42}


def test_ours_means_same_customer_and_net_total_within_rounding() -> None:
    def invoice(**fields: object) -> DirectoInvoice:
        return DirectoInvoice.model_validate({"number": "1", "customercode": "K1", **fields})

    def check(found: DirectoInvoice) -> bool:
        return is_ours(found, customer_code="K1", net_total=Decimal("330.00"), row_count=2)

    assert check(invoice(netamount="330.00"))
    assert check(invoice(netamount="330.02"))
    assert not check(invoice(netamount="330.03"))
    assert not check(invoice(customercode="K2", netamount="330.00"))
    rows = (DirectoInvoiceRow(sum=Decimal("180")), DirectoInvoiceRow(sum=Decimal("150")))
    assert check(invoice(rows=rows))
    assert check(invoice())  # no amounts: the customer decides


def test_the_answer_is_kept_as_directos_results_document() -> None:
    results = [put_result(30, 'Created "ok" & <fine>', docid="7", doctype="ARVE")]
    assert answer_xml(results) == (
        '<results><Result Type="30" Desc="Created &quot;ok&quot; &amp; &lt;fine&gt;" '
        'docid="7" doctype="ARVE"/></results>'
    )


def test_payment_figures_of_an_invoice() -> None:
    reading = read_invoice(
        DirectoInvoice(
            number="1", totalamount=Decimal("409.2"), balance=Decimal("109.2"), confirmed=True
        )
    )
    assert reading is not None
    assert (reading.total, reading.balance, reading.paid_amount, reading.status) == (
        Decimal("409.20"),
        Decimal("109.20"),
        Decimal("300.00"),
        "partially_paid",
    )
    net_only = read_invoice(DirectoInvoice(number="1", netamount=Decimal("100"), vat=Decimal("24")))
    assert net_only is not None
    assert (net_only.total, net_only.status) == (Decimal("124.00"), "unpaid")  # no balance given
    assert read_invoice(DirectoInvoice(number="1")) is None


@pytest.mark.parametrize(
    ("type_", "desc"),
    [
        (31, "Payment term not found: 14"),
        (9, "Error on import: maksetingimus 14 puudub"),
        (77, "Unknown paymentterm 14"),
    ],
)
def test_a_refused_payment_term_is_named_with_its_fix(type_: int, desc: str) -> None:
    problem = problem_for(put_result(type_, desc), ROWS, paymentterm="14")
    assert (problem.code, problem.loc) == ("payment_term_unknown", ["due_date"])
    assert problem.context == {"paymentterm": "14", "directo_type": type_, "directo_desc": desc}
    assert problem.fix is not None
    assert "payment-terms" in problem.fix


def test_results_with_a_meaning_of_their_own_are_never_read_as_a_term() -> None:
    problem = problem_for(put_result(11, "Duplicate payment term"), ROWS, paymentterm="14")
    assert problem.code == "duplicate"
