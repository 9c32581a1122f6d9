"""The output feeds: their ``what``, element names, and how a record becomes a model.

A `Feed` is everything the codec and the client need to know about one output: the
record element (searched anywhere under ``<transport>``), its plural container, and a
builder that turns the record's attributes (plus its child containers' entries) into a
typed, frozen model. Child records the model does not type (items' ``supplieritems``)
are kept in its ``raw`` (see `with_unmodelled`), never dropped. Builders run on the parse
thread for every record, so they convert values directly and build the model without
re-validating (see `_compile`).

A consumer that needs a record's raw attributes more than its model (the catalogue
imports store them as they came) can have the feed hand it anything else instead: see
`with_builder` and `reader`, which checks a record's values exactly as its model would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from app.directo import schemas, values
from app.directo.errors import DirectoDecodeError

R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

Attrs = dict[str, str]
Children = Mapping[str, list[Attrs]]
Raw = dict[str, str | list[dict[str, str]]]


def _text(value: str | None) -> str | None:
    return value or None


def _key(value: str | None) -> str:
    return value or ""


def _flag(value: str | None) -> bool:
    return value == "1"


_EMPTY: Children = {}
# Decimal(text, context) is exact (the context only decides what malformed text does):
# this one always raises for it, whatever the calling thread's own context traps.
_STRICT = Context(traps=[InvalidOperation])


def _builder(
    model: type[M],
    *,
    text: tuple[str, ...] = (),
    decimal: tuple[str, ...] = (),
    dates: tuple[str, ...] = (),
    moments: tuple[str, ...] = (),
    flags: tuple[str, ...] = (),
    key: str | None = None,
    renamed: dict[str, str] | None = None,
    children: Mapping[str, tuple[str, Callable[[Attrs, Children], BaseModel]]] | None = None,
) -> Callable[[Attrs, Children], M]:
    """A builder turning a record's attributes (and child entries) into ``model``.

    Every model field must be named exactly once (raises ``TypeError`` at import if not):
    ``text`` (empty → None), ``decimal``, ``dates``, ``moments`` (date-times), ``flags``
    (``"1"`` → True), ``key`` (the identifier, ``""`` when absent), ``renamed`` (field →
    attribute, as text) and ``children`` (field → (container, builder)). A value the
    `values` readers refuse raises `DirectoDecodeError` naming the field.
    """
    convert: dict[str, tuple[str, Callable[[str | None], Any]]] = {}
    convert.update({name: (name, _text) for name in text})
    convert.update({field: (attr, _text) for field, attr in (renamed or {}).items()})
    convert.update({name: (name, values.parse_decimal) for name in decimal})
    convert.update({name: (name, values.parse_date) for name in dates})
    convert.update({name: (name, values.parse_datetime) for name in moments})
    convert.update({name: (name, _flag) for name in flags})
    if key is not None:
        convert[key] = (key, _key)
    nested = children or {}
    fields = [name for name in model.model_fields if name != "raw"]
    if sorted(fields) != sorted([*convert, *nested]):
        raise TypeError(f"{model.__name__}: builder fields do not match the model")
    build = _compile(model, fields, convert, nested)
    _SPECS[build] = _Spec(build, fields, convert, nested)
    return build


@dataclass(frozen=True, slots=True)
class _Spec:
    """How a `_builder` builder reads its record: what `reader` generates its code from."""

    build: Callable[[Attrs, Children], BaseModel]
    fields: list[str]
    convert: dict[str, tuple[str, Callable[[str | None], Any]]]
    nested: Mapping[str, tuple[str, Callable[[Attrs, Children], BaseModel]]]


_SPECS: dict[Callable[..., Any], _Spec] = {}


# How `_compile` reads one attribute ``a`` into a field, per reader: inline expressions
# doing what the `values` readers do (they still run, via `_explain`, to word an error).
# ``v``/``d`` are reused by each expression in turn; a dict display evaluates in order.
_INLINE: dict[Callable[[str | None], Any], str] = {
    _text: "get({a}) or None",
    _key: "get({a}) or ''",
    _flag: "get({a}) == '1'",
    values.parse_decimal: (
        "((d if (d := _Decimal(v, _STRICT)).is_finite() else _decimal(v))"
        " if (v := get({a})) else None)"
    ),
    values.parse_datetime: (
        "(((d if (d := _iso(v)).tzinfo is None else _local(d)) if '.' not in v[:6]"
        " else _datetime(v)) if (v := get({a})) else None)"
    ),
    values.parse_date: (
        "(((d if (d := _iso(v)).tzinfo is None else _local(d)) if '.' not in v[:6]"
        " else _datetime(v)).date() if (v := get({a})) else None)"
    ),
}


# What the generated converters call, by the names `_INLINE`'s snippets use.
_CONVERTERS: dict[str, Any] = {
    "_EMPTY": _EMPTY,
    "_Decimal": Decimal,
    "_STRICT": _STRICT,
    "_iso": datetime.fromisoformat,
    "_local": values.to_local,
    "_decimal": values.parse_decimal,
    "_datetime": values.parse_datetime,
}


def _compile(
    model: type[M],
    fields: list[str],
    convert: dict[str, tuple[str, Callable[[str | None], Any]]],
    nested: Mapping[str, tuple[str, Callable[[Attrs, Children], BaseModel]]],
) -> Callable[[Attrs, Children], M]:
    """Generate the builder as one function with a dict literal (as dataclasses does).

    It does what ``model_construct`` does minus its per-field bookkeeping: the values are
    complete, of their declared types and in declaration order (`_builder` checks the
    first; tests check the rest with ``model_validate``). Conversions are inline and
    children are built with ``map``: Python calls are the main cost per record, and this
    runs for every record of a feed. The source is made only from the model's own field
    names and ``repr``-quoted attribute names, never from input.

    Every record of a model shares one ``model_fields_set`` (all fields are set): fewer
    objects for the cyclic GC to track and walk, which costs about as much as parsing
    while a consumer holds batches. Pydantic never changes it in place for a frozen
    model (``model_copy`` copies it first); callers must not either.
    """
    namespace: dict[str, Any] = {
        "_model": model,
        "_fields_set": {"raw", *fields},
        "_object_new": object.__new__,
        "_set": object.__setattr__,
        "_modelled": frozenset(container for container, _ in nested.values()),
        "_raw": with_unmodelled,
        **_CONVERTERS,
    }
    # A record without children (the common case) or with modelled ones only keeps its
    # attribute dict as ``raw`` (no copy); see `with_unmodelled` for the others.
    parts = [
        '"raw": attrs if not found or found.keys() <= _modelled else _raw(attrs, found, _modelled)'
    ]
    for name in fields:
        if name in nested:
            container, child = nested[name]
            namespace[f"_child_{name}"] = child
            parts.append(
                f"{name!r}: tuple(map(_child_{name}, k)) if (k := found.get({container!r})) else ()"
            )
            continue
        attr, conv = convert[name]
        parts.append(f"{name!r}: " + _INLINE[conv].format(a=repr(attr)))
    source = (
        "def build(attrs, found=_EMPTY):\n"
        "    get = attrs.get\n"
        "    try:\n"
        f"        values = {{{', '.join(parts)}}}\n"
        "    except (ValueError, ArithmeticError):\n"
        "        _explain(attrs)\n"
        "        raise\n"
        "    record = _object_new(_model)\n"
        "    _set(record, '__dict__', values)\n"
        "    _set(record, '__pydantic_fields_set__', _fields_set)\n"
        "    _set(record, '__pydantic_extra__', None)\n"
        "    _set(record, '__pydantic_private__', None)\n"
        "    return record\n"
    )
    label = model.__name__.removeprefix("Directo")

    def explain(attrs: Attrs) -> None:
        for name, (attr, conv) in convert.items():
            try:
                conv(attrs.get(attr))
            except ValueError as exc:
                raise DirectoDecodeError(f"{label} {name!r}: {exc}") from None

    namespace["_explain"] = explain
    exec(source, namespace)  # noqa: S102 - generated from field names only, see docstring
    build: Callable[[Attrs, Children], M] = namespace["build"]
    return build


def with_unmodelled(attrs: Attrs, found: Children, modelled: frozenset[str] = frozenset()) -> Raw:
    """A record's ``raw``: its attributes plus each non-empty child container its model does
    not type (items' ``supplieritems``, …), as the list of its entries' attributes.

    A container named like an attribute replaces it. Empty containers (``<supplieritems/>``)
    add nothing, so a record without such children keeps exactly its attributes.
    """
    extra = {name: entries for name, entries in found.items() if entries and name not in modelled}
    if not extra:
        return attrs  # type: ignore[return-value]  # a dict of str values is a Raw, read-only
    return {**attrs, **extra}


# The readers that can refuse a value (the others take any text).
_FALLIBLE = (values.parse_decimal, values.parse_date, values.parse_datetime)


def reader(feed: Feed[Any], field: str) -> Callable[[Attrs, Children], Any]:
    """A function reading one typed ``field`` of a ``feed`` record from its attributes.

    It returns what the feed's model would hold in ``field``, having checked every value
    the model converts that can be refused (decimals, dates; its children's too): a
    record the model builder refuses raises the same `DirectoDecodeError` (the builder is
    called to word it), and a record it accepts is accepted. Nothing else is built, so a
    consumer that keeps the raw attributes (see `with_builder`) pays for no model.
    """
    spec = _SPECS[feed.build]
    if field not in spec.convert:
        raise ValueError(f"{feed.name} records have no typed field {field!r}")
    namespace: dict[str, Any] = {
        **_CONVERTERS,
        "_build": spec.build,
    }
    attr, conv = spec.convert[field]
    lines = [f"value = {_INLINE[conv].format(a=repr(attr))}"]
    for name in spec.fields:
        if name in spec.nested:
            container, child = spec.nested[name]
            if any(r in _FALLIBLE for _, r in _SPECS[child].convert.values()):
                namespace[f"_child_{name}"] = child
                lines.append(f"for entry in found.get({container!r}, ()): _child_{name}(entry)")
        elif name != field and spec.convert[name][1] in _FALLIBLE:
            attr, conv = spec.convert[name]
            lines.append(_INLINE[conv].format(a=repr(attr)))
    body = "".join(f"        {line}\n" for line in lines)
    source = (
        "def read(attrs, found=_EMPTY):\n"
        "    get = attrs.get\n"
        "    try:\n"
        f"{body}"
        "    except (ValueError, ArithmeticError):\n"
        "        _build(attrs, found)\n"
        "        raise\n"
        "    return value\n"
    )
    exec(source, namespace)  # noqa: S102 - generated from field and attribute names only
    read: Callable[[Attrs, Children], Any] = namespace["read"]
    return read


_DATAFIELD = _builder(schemas.DirectoDataField, key="code", text=("content", "param"))
_DATAFIELDS = {"datafields": ("datafields", _DATAFIELD)}

_customer = _builder(
    schemas.DirectoCustomer,
    key="code",
    text=(
        "name", "regno", "vatregno", "address1", "address2", "address3", "county", "country",
        "contact", "email", "phone", "payterm", "salesman", "currency",
    ),
    decimal=("balance",),
    moments=("ts",),
    flags=("closed",),
    children=_DATAFIELDS,
)  # fmt: skip
_item = _builder(
    schemas.DirectoItem,
    key="code",
    text=("name", "unit", "vatcode"),
    renamed={"item_class": "class"},
    decimal=("salesprice",),
    moments=("ts",),
    flags=("closed",),
    children=_DATAFIELDS,
)
_invoice_row = _builder(
    schemas.DirectoInvoiceRow,
    text=("rn", "item", "description", "vatcode", "account", "object"),
    decimal=("quantity", "price", "sum"),
)
_invoice = _builder(
    schemas.DirectoInvoice,
    key="number",
    text=("customercode", "customername", "paymentterm", "currency", "salesman"),
    decimal=("netamount", "vat", "totalamount", "balance"),
    dates=("date", "duedate", "transactiondate"),
    moments=("ts",),
    flags=("confirmed",),
    children={"rows": ("rows", _invoice_row)},
)
_receipt_row = _builder(
    schemas.DirectoReceiptRow,
    text=("invoice", "order", "customer", "customername", "regno"),
    decimal=("received", "invoicesum"),
    dates=("aeg",),
)
_receipt = _builder(
    schemas.DirectoReceipt,
    key="number",
    text=("paymentmode",),
    dates=("aeg",),
    moments=("ts",),
    flags=("confirmed",),
    children={"rows": ("rows", _receipt_row)},
)
_purchase = _builder(
    schemas.DirectoPurchase,
    key="number",
    text=("supplier", "suppliername", "supplierinvoiceno"),
    decimal=("sum", "vat"),
    dates=("date", "duedate"),
    moments=("ts",),
    flags=("confirmed",),
)
_transaction_row = _builder(
    schemas.DirectoTransactionRow,
    text=("rn", "account", "object", "project", "description", "vatcode", "currency"),
    decimal=("debitamount", "creditamount"),
    dates=("date",),
)
_transaction = _builder(
    schemas.DirectoTransaction,
    key="number",
    text=("type", "reference", "comment"),
    dates=("date",),
    moments=("ts",),
    children={"rows": ("rows", _transaction_row)},
)


@dataclass(frozen=True, slots=True)
class Feed(Generic[R]):
    """One output component: ``what`` to ask for, element names, and the record builder."""

    name: str
    what: str
    container: str
    record: str
    build: Callable[[Attrs, Children], R]
    filters: frozenset[str]


CUSTOMERS = Feed("customers", "customer", "customers", "customer", _customer,
                 frozenset({"ts", "code", "closed"}))  # fmt: skip
ITEMS = Feed("items", "item", "items", "item", _item, frozenset({"ts", "code", "closed"}))
INVOICES = Feed("invoices", "invoice", "invoices", "invoice", _invoice,
                frozenset({"ts", "date1", "date2", "number", "customercode"}))  # fmt: skip
RECEIPTS = Feed("receipts", "receipt", "receipts", "receipt", _receipt,
                frozenset({"ts", "date1", "date2", "number", "customercode"}))  # fmt: skip
PURCHASES = Feed("purchases", "purchase", "purchases", "purchase", _purchase,
                 frozenset({"ts", "date1", "date2", "number"}))  # fmt: skip
TRANSACTIONS = Feed("transactions", "transaction", "transactions", "transaction", _transaction,
                    frozenset({"ts", "date1", "date2", "number"}))  # fmt: skip

T = TypeVar("T")


def with_builder(feed: Feed[Any], build: Callable[[Attrs, Children], T]) -> Feed[T]:
    """``feed`` with its records built by ``build`` from the parser's attribute dicts.

    ``build`` runs on the parse thread for every record, in place of the model builder,
    with the record's attributes and its child containers' entries (dicts the parser
    made for this record alone: they may be kept). It must check what it reads as the
    model would (`reader` does) and raise `DirectoDecodeError` for a bad record.
    """
    return Feed(feed.name, feed.what, feed.container, feed.record, build, feed.filters)


ALL_FEEDS: tuple[Feed[Any], ...] = (CUSTOMERS, ITEMS, INVOICES, RECEIPTS, PURCHASES, TRANSACTIONS)
FEEDS_BY_WHAT: dict[str, Feed[Any]] = {feed.what: feed for feed in ALL_FEEDS}

FilterValue = str | int | bool | date | datetime | Decimal | None


def format_filters(
    feed: Feed[Any],
    filters: Mapping[str, FilterValue],
    *,
    date_format: values.DateFormat = "dmy",
) -> dict[str, str]:
    """Turn typed filter values into Directo's form fields, dropping ``None``; dates and
    date-times in ``date_format`` (see `values.format_ts_filter`).

    Raises ``ValueError`` for a filter the feed does not take (a programming error).
    """
    out: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if name not in feed.filters:
            raise ValueError(f"the {feed.name} feed has no {name!r} filter")
        if isinstance(value, bool):
            out[name] = "1" if value else "0"
        elif isinstance(value, date):  # datetime is a date too
            out[name] = values.format_ts_filter(value, date_format)
        else:
            out[name] = str(value)
    return out
