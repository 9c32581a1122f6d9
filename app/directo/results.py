"""Reading put answers: one `PutResult` per document, whatever shape Directo answers in.

Shapes read as results: ``<results><Result Type Desc docid doctype submit/>…</results>``
(also lower-case ``<result type desc>``, a ``Desc`` given as element text, ``msg``), and a
bare ``<result type="30" desc="Created"/>`` without the wrapper [QBIT handles it]. Each
becomes a `PutResult` whose ``kind`` says what its ``Type`` means for the gateway (Type 0
and 30 are success). Directo's texts for unknown codes are not public, so a non-zero Type
whose ``Desc`` names an article, VAT code, salesman, object or customer is read from the
``Desc`` words (English and Estonian).

Everything else raises the error `answers.error_for` finds: a bare type 5 (also with its
text as content, ``<result type="5">…</result>``) or an error text speaking of
authorisation is `DirectoUnauthorized` (``token required``: `DirectoTokenMissing`);
``<result type="404"/>`` is `DirectoInvalidUrl`; other error text (``<error>…</error>``,
``<results><err>…</err></results>``, ``<results error="1" message="…"/>``) and results
without a numeric Type are a `DirectoResponseError` keeping Directo's words. Whether such a
put was stored is unknown: the client turns them into `DirectoOutcomeUnknown`. (A type 5
inside ``<results>`` is a per-document `PutResult` of kind ``unauthorized``.)
"""

from __future__ import annotations

from app.directo import answers
from app.directo.codec import XmlNode, parse_document
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
    18: PutResultKind.IMPORT_ERROR,  # "uniqueid field not found"
    19: PutResultKind.IMPORT_ERROR,  # "removal not allowed"
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


def _desc(node: XmlNode) -> str:
    attrs = node.attrs
    desc = attrs.get("Desc") or attrs.get("desc") or node.text.strip() or attrs.get("msg")
    return desc or attrs.get("error", "")


def _result(node: XmlNode) -> PutResult:
    """A ``<Result>`` as a `PutResult`; raises when it has no numeric Type to go by."""
    try:
        type_ = int(answers.result_type(node))
    except ValueError:
        raise answers.by_text(
            answers.message_of(node),
            f"Directo answered a result without a Type: {answers.message_of(node)[:200]!r}",
        ) from None
    attrs = node.attrs
    return put_result(
        type_,
        _desc(node),
        docid=attrs.get("docid") or None,
        doctype=attrs.get("doctype") or None,
        submit=attrs.get("submit") or None,
    )


def parse_put_response(data: bytes) -> list[PutResult]:
    """One `PutResult` per result, in document order (see the module docstring).

    Raises `DirectoUnauthorized`, `DirectoTokenMissing`, `DirectoInvalidUrl` or
    `DirectoResponseError` when the answer is a whole-request refusal, an error text or
    not a results document, and `DirectoDecodeError` when it is not acceptable XML. An
    empty ``<results/>`` gives ``[]``.
    """
    root = parse_document(data)
    if root.tag in answers.RESULT_TAGS:
        if answers.result_type(root) in {"5", "404"}:
            raise answers.error_for(root)
        return [_result(root)]
    if root.tag != "results" or answers.is_flagged(root):
        raise answers.error_for(root)
    found = [node for node in root.children if node.tag in answers.RESULT_TAGS]
    if not found and any(node.tag in answers.ERROR_CHILDREN for node in root.children):
        raise answers.error_for(root)
    return [_result(node) for node in found]


def rejection(result: PutResult) -> DirectoPutRejected | None:
    """The error for a failing result (to raise or record), ``None`` for a success."""
    return None if result.ok else DirectoPutRejected(result)
