"""The statistics' lean feeds (`summaries`) against the model feeds they stand in for.

Whatever a model feed reads, its summary feed reads the same values (`summarize` of the
model); whatever a model feed refuses, the summary feed refuses with the same error. Checked
on the published samples, on the sandbox's generated feeds, and on random records whose
values mix the common forms, the uncommon-but-valid ones and junk.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.directo import codec, feeds, schemas, summaries, values
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.errors import DirectoError
from app.directo.sandbox import SandboxState
from app.directo.sandbox.filters import Filters
from app.directo.sandbox.xml import feed_chunks
from app.statistics.compute import MonthlyTally
from app.statistics.fields import Scope
from tests.directo.conftest import DATA, fast_settings

SHARED_SAMPLES = Path("/work/shared/directo/samples")
DOCUMENT_FEEDS = ("invoice", "receipt", "purchase", "transaction")
SAMPLES = {
    "invoice": ["invoices-output-inferred.xml", "empty.xml"],
    "receipt": ["receipts.xml", "receipts-rows-dated.xml", "receipts-no-container.xml"],
    "purchase": ["purchases-inferred.xml"],
    "transaction": ["transactions.xml"],
}
ERROR_SAMPLES = ["token-required.xml", "unauthorized.xml", "invalid-url.xml"]
_MODELS = {
    "invoice": schemas.DirectoInvoice,
    "receipt": schemas.DirectoReceipt,
    "purchase": schemas.DirectoPurchase,
    "transaction": schemas.DirectoTransaction,
}


ROW_MODELS: dict[str, type[Any] | None] = {
    "invoice": schemas.DirectoInvoiceRow,
    "receipt": schemas.DirectoReceiptRow,
    "purchase": None,
    "transaction": schemas.DirectoTransactionRow,
}


def _outcome(decode: Any, *args: Any) -> tuple[str, Any]:
    """What ``decode(*args)`` did: ("ok", records) or ("error", (class, message))."""
    try:
        return "ok", decode(*args)
    except DirectoError as exc:
        return "error", (type(exc), exc.message)


def _both(what: str, data: bytes) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """The model feed's outcome (records summarized) and the summary feed's, on ``data``."""
    expected = _outcome(_summarized, feeds.FEEDS_BY_WHAT[what].build, data, what)
    actual = _outcome(codec.decode_feed, summaries.BY_WHAT[what], data)
    return expected, actual


def _summarized(_: Any, data: bytes, what: str) -> list[summaries.Summary]:
    return [summaries.summarize(r) for r in codec.decode_feed(feeds.FEEDS_BY_WHAT[what], data)]


def _sample_paths(name: str) -> list[Path]:
    return [path for path in (DATA / name, SHARED_SAMPLES / name) if path.exists()]


@pytest.mark.parametrize(
    ("what", "name"), [(what, name) for what, names in SAMPLES.items() for name in names]
)
def test_samples_read_as_the_models_read_them(what: str, name: str) -> None:
    paths = _sample_paths(name)
    assert paths
    for path in paths:
        expected, actual = _both(what, path.read_bytes())
        assert expected[0] == "ok"
        assert actual == expected


@pytest.mark.parametrize("name", ERROR_SAMPLES)
@pytest.mark.parametrize("what", DOCUMENT_FEEDS)
def test_error_answers_raise_as_for_the_models(what: str, name: str) -> None:
    expected, actual = _both(what, (DATA / name).read_bytes())
    assert expected[0] == "error"
    assert actual == expected


def test_the_invoice_sample_summary() -> None:
    [invoice] = codec.decode_feed(
        summaries.INVOICES, (DATA / "invoices-output-inferred.xml").read_bytes()
    )
    assert invoice == summaries.InvoiceSummary(
        number="250101",
        date=dt.date(2025, 3, 1),
        customercode="K0001",
        netamount=Decimal("1000.00"),
        balance=Decimal("0.00"),
        row_count=1,
    )
    assert len(invoice.rows) == 1


@pytest.mark.parametrize("what", DOCUMENT_FEEDS)
@pytest.mark.parametrize("header_dates", [False, True], ids=["xsd-receipts", "wiki-receipts"])
def test_generated_feeds_read_as_the_models_read_them(
    state: SandboxState, what: str, header_dates: bool
) -> None:
    from dataclasses import replace

    if header_dates:
        state.add_database(replace(state.database("demo_ee").spec, receipt_header_dates=True))
    database = state.database("demo_ee")
    data = b"".join(feed_chunks(what, database.records(what, Filters())))
    expected, actual = _both(what, data)
    assert expected[0] == "ok"
    assert len(expected[1]) > 10
    assert actual == expected


def test_receipt_summaries_copy_like_models() -> None:
    row = summaries.ReceiptRowSummary(dt.date(2025, 3, 1), "K1", Decimal("5"))
    receipt = summaries.ReceiptSummary("7", None, (row, row))
    assert receipt.model_copy(update={"rows": (row,)}) == summaries.ReceiptSummary(
        "7", None, (row,)
    )


def _fallible(model: type[Any]) -> set[str]:
    """The fields of ``model`` whose reading can refuse a value (decimals, dates)."""
    kinds = {Decimal, dt.date, dt.datetime}
    return {
        name
        for name, info in model.model_fields.items()
        if set(get_args(info.annotation)) & kinds or info.annotation in kinds
    }


def _read(reading: summaries.Reading) -> set[str]:
    kept = {name for name, kind in reading.kept if kind in ("decimal", "date")}
    return kept | set(reading.decimals) | set(reading.moments)


@pytest.mark.parametrize("what", DOCUMENT_FEEDS)
def test_readings_cover_every_value_the_models_check(what: str) -> None:
    header, rows = summaries.READINGS[what]
    assert _read(header) == _fallible(_MODELS[what])
    row_model = ROW_MODELS[what]
    if row_model is None:
        assert rows is None
    else:
        assert rows is not None
        assert _read(rows) == _fallible(row_model)


# Values as Directo writes them, uncommon but valid ones, and junk (refused by both).
DECIMALS = st.sampled_from(
    ["1240.00", "0", "-5.5", "", "1E+3", " 7 ", ".5", "5.", "1_000", "-0.00",
     "NaN", "Infinity", "-inf", "abc", "1,5", "12.3.4"]
)  # fmt: skip
MOMENTS = st.sampled_from(
    ["2025-03-01T00:00:00", "2025-03-01 08:02:11", "2025-03-01", "", "10.03.2025",
     "10.03.2025 08:02", "2025-03-01T23:30:00+00:00", "2025-03-01T00:00:00Z",
     "2025-03-01T08:02:11.250", "20250301", "2025-13-01", "31.02.2025", "soon",
     "9999-12-31T23:00:00-05:00"]
)  # fmt: skip
TEXTS = st.sampled_from(["K0001", "", "Näidis & <OÜ>", "250101"])


def _value(name: str) -> st.SearchStrategy[str]:
    kinds = {"decimal": DECIMALS, "moment": MOMENTS}
    return kinds.get(name, TEXTS)


def _attrs(fields: dict[str, str]) -> st.SearchStrategy[dict[str, str]]:
    """Attribute dicts with any subset of ``fields`` (name → kind) present."""
    return st.fixed_dictionaries({}, optional={name: _value(kind) for name, kind in fields.items()})


def _fields(model: type[Any]) -> dict[str, str]:
    fallible = _fallible(model)
    out = {}
    for name, info in model.model_fields.items():
        if name in ("raw", "rows", "datafields"):
            continue
        if name in fallible:
            out[name] = (
                "decimal" if Decimal in (*get_args(info.annotation), info.annotation) else "moment"
            )
        else:
            out[name] = "text"
    return out


def _record(what: str) -> st.SearchStrategy[tuple[dict[str, str], list[dict[str, str]]]]:
    header = _fields(_MODELS[what])
    row_model = ROW_MODELS[what]
    rows = st.lists(_attrs(_fields(row_model)), max_size=3) if row_model else st.just([])
    return st.tuples(_attrs(header), rows)


def _model_summary(what: str, attrs: dict[str, str], children: Any) -> summaries.Summary:
    return summaries.summarize(feeds.FEEDS_BY_WHAT[what].build(attrs, children))


def _xml(what: str, records: list[tuple[dict[str, str], list[dict[str, str]]]]) -> bytes:
    def element(tag: str, attrs: dict[str, str], inner: str = "") -> str:
        text = " ".join(f'{k}="{values.escape_attr(v)}"' for k, v in attrs.items())
        return f"<{tag} {text}>{inner}</{tag}>"

    feed = feeds.FEEDS_BY_WHAT[what]
    body = "".join(
        element(feed.record, attrs, element("rows", {}, "".join(element("row", r) for r in rows)))
        for attrs, rows in records
    )
    return f"<transport><{feed.container}>{body}</{feed.container}></transport>".encode()


@pytest.mark.slow
@pytest.mark.parametrize("what", DOCUMENT_FEEDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_records_read_or_fail_as_the_models_do(what: str, data: st.DataObject) -> None:
    records = data.draw(st.lists(_record(what), max_size=4))
    # Builder by builder (the record's attributes, as the decoder hands them over) …
    for attrs, rows in records:
        children = {"rows": rows} if rows else {}
        expected = _outcome(_model_summary, what, dict(attrs), children)
        actual = _outcome(summaries.BY_WHAT[what].build, dict(attrs), children)
        assert actual == expected
    # … and whole documents through the streaming decoder.
    expected, actual = _both(what, _xml(what, records))
    assert actual == expected


def test_every_bad_value_is_refused_with_the_models_error() -> None:
    for what, model in _MODELS.items():
        for name, kind in _fields(model).items():
            if kind == "text":
                continue
            for junk in ("abc", "NaN", "2025-13-01", "1.2.3.4"):
                expected, actual = _both(what, _xml(what, [({"number": "1", name: junk}, [])]))
                assert expected[0] == "error", (what, name, junk)
                assert actual == expected


def _tally(scope: Scope, code: str | None) -> MonthlyTally:
    return MonthlyTally(
        scope=scope, first=dt.date(2024, 1, 1), last=dt.date(2025, 6, 1), customer_code=code
    )


@pytest.mark.parametrize(
    ("scope", "code"), [(Scope.OWN_CONNECTION, None), (Scope.LINKED_CUSTOMER, "K000002")]
)
def test_a_tally_of_summaries_equals_the_tally_of_models(
    state: SandboxState, scope: Scope, code: str | None
) -> None:
    database = state.database("demo_ee")
    by_models, by_summaries = _tally(scope, code), _tally(scope, code)
    for what in DOCUMENT_FEEDS:
        data = b"".join(feed_chunks(what, database.records(what, Filters())))
        add = f"add_{feeds.FEEDS_BY_WHAT[what].name}"
        getattr(by_models, add)(codec.decode_feed(feeds.FEEDS_BY_WHAT[what], data))
        getattr(by_summaries, add)(codec.decode_feed(summaries.BY_WHAT[what], data))
    keys = [
        "documents", "sales_invoices", "sales_invoice_rows", "sales_net_total",
        "unpaid_sales_invoices", "active_customers", "bank_transactions", "receipts_total",
        "purchase_invoices", "purchase_total", "ledger_transactions",
    ]  # fmt: skip
    assert by_summaries.values(keys) == by_models.values(keys)
    assert any(v for month in by_models.values(keys).values() for v in month.values())


async def test_the_client_reads_summaries(sandbox_http: httpx.AsyncClient) -> None:
    client = DirectoClient(sandbox_http, fast_settings(str(sandbox_http.base_url)))
    creds = DirectoCredentials("sandbox-token-ee")
    first, last = dt.date(2025, 4, 1), dt.date(2025, 6, 30)
    batches = client.iter_summaries(
        creds, "invoice", date1=first, date2=last, customercode="K000002", batch_size=5
    )
    got = [record async for batch in batches for record in batch]
    models = client.iter_invoices(creds, date1=first, date2=last, customercode="K000002")
    want = [summaries.summarize(record) async for batch in models for record in batch]
    assert got == want
    assert got
    receipts = client.iter_summaries(creds, "receipt", date1=first, date2=last)
    read = [record async for batch in receipts for record in batch]
    assert read
    assert all(isinstance(record, summaries.ReceiptSummary) for record in read)
