"""Writing the sandbox's answers: streamed feeds, put results and error documents."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from app.directo.sandbox.data import Attrs, Rec
from app.directo.values import escape_attr

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
UNAUTHORIZED = b'<?xml version="1.0" encoding="UTF-8"?>\n<result type="5" desc="Unauthorized"/>'
TOKEN_REQUIRED = b"<err>token required</err>"
PLURALS = {
    "customer": "customers",
    "item": "items",
    "invoice": "invoices",
    "receipt": "receipts",
    "purchase": "purchases",
    "transaction": "transactions",
}


def attributes(attrs: Attrs) -> str:
    return "".join([f' {name}="{escape_attr(value)}"' for name, value in attrs.items()])


def element(tag: str, rec: Rec) -> str:
    """One record with its child containers (``<rows><row/></rows>``; empty ones as ``<x/>``)."""
    attrs, children = rec
    if not children:
        return f"<{tag}{attributes(attrs)}/>"
    inner = []
    for container, entries in children.items():
        if not entries:
            inner.append(f"<{container}/>")
            continue
        child = container[:-1] if container.endswith("s") else container
        child = "data" if container == "datafields" else child
        body = "".join([f"<{child}{attributes(entry)}/>" for entry in entries])
        inner.append(f"<{container}>{body}</{container}>")
    return f"<{tag}{attributes(attrs)}>{''.join(inner)}</{tag}>"


def feed_chunks(
    what: str, records: Iterable[Rec], *, chunk_size: int = 64 * 1024
) -> Iterator[bytes]:
    """The ``<transport><plural>…</plural></transport>`` document, in ~``chunk_size`` pieces.

    Records are rendered as they are pulled from ``records``, so a 400k-record feed never
    exists as one string or list.
    """
    plural = PLURALS[what]
    parts, size = [f"{DECLARATION}<transport><{plural}>"], 0
    for rec in records:
        text = element(what, rec)
        parts.append(text)
        size += len(text)
        if size >= chunk_size:
            yield "".join(parts).encode()
            parts, size = [], 0
    parts.append(f"</{plural}></transport>")
    yield "".join(parts).encode()


def results_document(results: Iterable[Attrs]) -> bytes:
    body = "".join(f"<Result{attributes(result)}/>" for result in results)
    return f"{DECLARATION}<results>{body}</results>".encode()


def put_answer(results: list[Attrs], shape: str = "results") -> bytes:
    """A put's results in one of `config.ANSWER_SHAPES`; the shapes other than
    ``results`` carry the first result only (puts of one document)."""
    if shape == "results" or not results:
        return results_document(results)
    first = results[0]
    type_, desc = escape_attr(first["Type"]), first["Desc"]
    text = escape_text(desc)
    if shape == "bare":
        return f'{DECLARATION}<result type="{type_}" desc="{escape_attr(desc)}"/>'.encode()
    if shape == "text":
        return f'{DECLARATION}<result type="{type_}">{text}</result>'.encode()
    if shape == "error":
        return f"{DECLARATION}<error>{text}</error>".encode()
    if shape == "err":
        return f"{DECLARATION}<results><err>{text}</err></results>".encode()
    if shape == "error_attr":
        return f'{DECLARATION}<results error="1" message="{escape_attr(desc)}"/>'.encode()
    raise ValueError(f"unknown answer shape {shape!r}")


def escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def result_document(type_: int, desc: str) -> bytes:
    return f'{DECLARATION}<result type="{type_}" desc="{escape_attr(desc)}"/>'.encode()
