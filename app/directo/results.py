"""Reading put answers: ``<results><Result Type Desc docid doctype submit/>…</results>``.

Each ``Result`` becomes a `PutResult` whose ``kind`` says what its ``Type`` means for the
gateway (Type 0 and 30 are success). Directo's texts for unknown codes are not public, so
a non-zero Type whose ``Desc`` names an article, VAT code, salesman, object or customer is
read from the ``Desc`` words (English and Estonian). A whole-request refusal
(``<result type="5"/>``, ``<err>token required</err>``) raises instead.
"""

from __future__ import annotations

from app.directo.codec import XmlNode, parse_document, raise_for_error_root
from app.directo.errors import REGENERATE_KEY_HINT, DirectoPutRejected
from app.directo.schemas import PutResult, PutResultKind

_BY_TYPE: dict[int, PutResultKind] = {
    0: PutResultKind.CREATED,
    30: PutResultKind.CREATED,
    5: PutResultKind.UNAUTHORIZED,
    8: PutResultKind.INVALID_XML,
    9: PutResultKind.IMPORT_ERROR,
    17: PutResultKind.IMPORT_ERROR,
    11: PutResultKind.DUPLICATE,
    12: PutResultKind.MISSING_NUMBER,
    13: PutResultKind.CUSTOMER_MISSING_REGNO_OR_EMAIL,
    14: PutResultKind.CONFIRMED_LOCKED,
    29: PutResultKind.NOT_CONFIRMED,
    39: PutResultKind.NOT_CONFIRMED,
    99: PutResultKind.NO_DATA,
}

# Checked in order against the lower-cased Desc of a failing result (9, 31, or unknown Type).
_BY_WORDS: tuple[tuple[tuple[str, ...], PutResultKind], ...] = (
    (("vat code", "vatcode", "käibemaks", "km kood"), PutResultKind.VAT_CODE_UNKNOWN),
    (("article", "artikkel", "artikli", "item"), PutResultKind.ARTICLE_UNKNOWN),
    (("salesman", "seller", "müüja"), PutResultKind.SALESMAN_UNKNOWN),
    (("object", "objekt"), PutResultKind.OBJECT_UNKNOWN),
    (("customer", "klient", "kliendi"), PutResultKind.CUSTOMER_UNKNOWN),
)

_HINTS: dict[PutResultKind, str] = {
    PutResultKind.CREATED: "Stored in Directo.",
    PutResultKind.UNAUTHORIZED: REGENERATE_KEY_HINT,
    PutResultKind.INVALID_XML: "Directo could not read the document; contact support.",
    PutResultKind.IMPORT_ERROR: "Directo could not import the document; see its message.",
    PutResultKind.DUPLICATE: "Directo already has a document with this number.",
    PutResultKind.MISSING_NUMBER: "The document has no number.",
    PutResultKind.CUSTOMER_MISSING_REGNO_OR_EMAIL: (
        "Add an e-mail address or registration number to the customer card in Directo."
    ),
    PutResultKind.CONFIRMED_LOCKED: "The document is confirmed in Directo and cannot change.",
    PutResultKind.NOT_CONFIRMED: "Stored in Directo but not confirmed; confirm it there.",
    PutResultKind.ARTICLE_UNKNOWN: "Import the articles again or fix the article code.",
    PutResultKind.VAT_CODE_UNKNOWN: "Set the VAT code's external code to one Directo knows.",
    PutResultKind.SALESMAN_UNKNOWN: "Set the user's external code to a Directo salesman code.",
    PutResultKind.OBJECT_UNKNOWN: "Set the resource's external code to a Directo object code.",
    PutResultKind.CUSTOMER_UNKNOWN: "Link the client to an existing Directo customer.",
    PutResultKind.NOT_FOUND: "Something the document refers to does not exist in Directo.",
    PutResultKind.NO_DATA: "The request carried no document.",
    PutResultKind.OTHER: "Directo refused the document; see its message.",
}


def classify(type_: int, desc: str) -> PutResultKind:
    """The kind of a result: by Type, else by the words of a failing result's Desc."""
    kind = _BY_TYPE.get(type_)
    if kind is not None and kind not in {PutResultKind.IMPORT_ERROR}:
        return kind
    lowered = desc.lower()
    for words, word_kind in _BY_WORDS:
        if any(word in lowered for word in words):
            return word_kind
    if kind is not None:
        return kind
    return PutResultKind.NOT_FOUND if type_ in {31} else PutResultKind.OTHER


def put_result(type_: int, desc: str = "", **fields: str | None) -> PutResult:
    """Build a classified `PutResult` (also used by the sandbox and tests)."""
    kind = classify(type_, desc)
    return PutResult(type=type_, desc=desc, kind=kind, hint=_HINTS[kind], **fields)


def _result(node: XmlNode) -> PutResult:
    attrs = node.attrs
    raw_type = attrs.get("Type", attrs.get("type", ""))
    try:
        type_ = int(raw_type)
    except ValueError:
        type_ = -1
    return put_result(
        type_,
        attrs.get("Desc", attrs.get("desc", "")),
        docid=attrs.get("docid") or None,
        doctype=attrs.get("doctype") or None,
        submit=attrs.get("submit") or None,
    )


def parse_put_response(data: bytes) -> list[PutResult]:
    """One `PutResult` per ``<Result>``, in document order.

    Raises `DirectoUnauthorized`, `DirectoTokenMissing` or `DirectoResponseError` when the
    answer is a whole-request refusal or not a results document, and `DirectoDecodeError`
    when it is not acceptable XML.
    """
    root = parse_document(data)
    if root.tag != "results":
        raise_for_error_root(root.tag, root.attrs, root.text)
    return [_result(node) for node in root.children if node.tag in {"Result", "result"}]


def rejection(result: PutResult) -> DirectoPutRejected | None:
    """The error for a failing result (to raise or record), ``None`` for a success."""
    return None if result.ok else DirectoPutRejected(result)
