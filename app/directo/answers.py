"""Directo's answers that carry no data, in every shape public clients meet, classified.

What each shape becomes (PROTOCOL §3.5, §4.1, §7; Directo's own text is always kept in
the message, clipped to 200 characters):

```text
<result type="5" desc="Unauthorized"/>            DirectoUnauthorized
<result type="5">Authentication failed</result>   DirectoUnauthorized (text as content)
<result type="404" desc="Invalid url given"/>     DirectoInvalidUrl
<result type="N" desc="…"/>, any other N          by its text (below), else DirectoResponseError
<err>token required</err>                         DirectoTokenMissing
<err>…</err>  <error>…</error>  <error desc code/>  <errors><error>…</error>…</errors>
<results><err>…</err></results>  <results error="1" message="…"/>  <results error="…"/>
                                                  by its text: DirectoTokenMissing,
                                                  DirectoUnauthorized (authorisation words),
                                                  DirectoDateFormatMismatch ("invalid date"),
                                                  else DirectoResponseError
<results><Result Type="9" …/></results>           the first failing result, as above
anything else                                     DirectoResponseError ("unexpected <tag>")
```

Which words mean what is [INFER]: Directo's texts for these cases are not public beyond
"Unauthorized" and "token required". A put's answer is read by `results` first: there a
``<result>`` with a numeric Type other than 5 and 404 is a document result, not an error.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from app.directo.errors import (
    DirectoDateFormatMismatch,
    DirectoError,
    DirectoInvalidUrl,
    DirectoResponseError,
    DirectoTokenMissing,
    DirectoUnauthorized,
)

if TYPE_CHECKING:
    from app.directo.codec import XmlNode

RESULT_TAGS = frozenset({"result", "Result"})
# Roots of error answers: read whole (they are small) before they are judged.
ERROR_ROOTS = frozenset({"result", "Result", "results", "err", "error", "errors", "viga"})
ERROR_CHILDREN = frozenset({"err", "error", "errors", "viga"})
_MESSAGE_ATTRS = ("desc", "Desc", "description", "message", "msg", "errormessage", "teade")
_FLAGS = frozenset({"1", "true", "yes"})
_CLIP = 200

_TOKEN_REQUIRED = re.compile(r"token\s+required", re.IGNORECASE)
_AUTH = re.compile(
    r"unauthori[sz]ed|not\s+authori[sz]ed|access\s+denied|authenticat|"
    r"invalid\s+(?:api\s+)?(?:key|token)|token\s+(?:is\s+)?(?:invalid|expired|revoked)|"
    r"vale\s+võti|volitamata",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"invalid\s+date|date\s+(?:is\s+)?invalid|out-of-range\s+(?:datetime\s+)?value|"
    r"vigane\s+kuupäev|kuupäev\s+on\s+vigane",
    re.IGNORECASE,
)


def message_of(node: XmlNode) -> str:
    """Directo's words in an answer element: a message attribute, else its text, else an
    ``error`` attribute that is not a mere flag, else its children's words joined."""
    for name in _MESSAGE_ATTRS:
        value = node.attrs.get(name, "").strip()
        if value:
            return value
    text = node.text.strip()
    if text:
        return text
    flag = node.attrs.get("error", "").strip()
    if flag and flag.lower() not in _FLAGS:
        return flag
    return "; ".join(part for part in map(message_of, node.children) if part)


def result_type(node: XmlNode) -> str:
    """The ``Type``/``type`` attribute of a result element, stripped (``""`` when absent)."""
    return (node.attrs.get("Type") or node.attrs.get("type") or "").strip()


def is_flagged(node: XmlNode) -> bool:
    """Whether a ``<results>`` root says it is an error (``error="1"`` or an error text)."""
    return bool(node.attrs.get("error", "").strip())


def _clip(text: str) -> str:
    return text if len(text) <= _CLIP else text[:_CLIP] + "…"


def by_text(message: str, said: str) -> DirectoError:
    """The error Directo's own ``message`` names; ``said`` is how the error words it.
    The error keeps the words themselves in ``directo_text`` (clipped)."""
    error: DirectoError
    if _TOKEN_REQUIRED.search(message):
        error = DirectoTokenMissing(said)
    elif _AUTH.search(message):
        error = DirectoUnauthorized(said)
    elif _DATE.search(message):
        error = DirectoDateFormatMismatch(said)
    else:
        error = DirectoResponseError(said)
    error.directo_text = _clip(message.strip()) or None
    return error


def _result_error(node: XmlNode) -> DirectoError:
    kind, message = result_type(node), message_of(node)
    said = f"Directo answered type {kind or '?'}: {_clip(message)!r}"
    if kind == "5":
        return DirectoUnauthorized(f"Directo answered Unauthorized (type 5: {_clip(message)!r})")
    if kind == "404":
        return DirectoInvalidUrl(said)
    return by_text(message, said)


def error_for(node: XmlNode) -> DirectoError:
    """The `DirectoError` a whole answer that is not a data document stands for."""
    tag = node.tag
    if tag in RESULT_TAGS:
        return _result_error(node)
    if tag == "results":
        errors = [child for child in node.children if child.tag in ERROR_CHILDREN]
        if is_flagged(node) or errors:
            message = message_of(node) if is_flagged(node) else message_of(errors[0])
            return by_text(message, f"Directo answered an error: {_clip(message)!r}")
        results = [child for child in node.children if child.tag in RESULT_TAGS]
        failing = [child for child in results if result_type(child) not in {"0", "30"}]
        if failing:
            return _result_error(failing[0])
        if results:
            return DirectoResponseError("Directo answered a put's results to a read")
        return DirectoResponseError("Directo answered an empty <results> document")
    if tag in ERROR_CHILDREN:
        message = message_of(node)
        if tag == "err" and _TOKEN_REQUIRED.search(message):
            return DirectoTokenMissing("Directo answered 'token required'")
        code = node.attrs.get("code", "").strip()
        prefix = f"Directo answered error {code}" if code else "Directo answered an error"
        return by_text(message, f"{prefix}: {_clip(message)!r}")
    return DirectoResponseError(f"Directo answered an unexpected <{tag}> document")
