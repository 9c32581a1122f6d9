"""Catalogue rows built straight from the feed parser's attribute dicts.

`customer_rows` / `article_rows` give the `directo_customers` / `directo_articles` rows of a
record on the codec's parse thread, with no model built for it; the tests hold them to the
rows the feed's models give (`tests/support/catalogue_reference.py`). A row's stored `raw` document
holds the record's attributes and every child container Directo sent with entries
(`datafields`, items' `supplieritems`, …). `fold` is the accent-insensitive search form the
list routes query with.
"""

from __future__ import annotations

import hashlib
import operator
import re
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from app.directo import feeds
from app.directo.feeds import Attrs, Children

# Combining marks (U+0300–U+036F), removed after NFKD decomposition: one regular expression
# pass in C (a str.translate table costs a dict lookup per character).
_COMBINING_MARKS = re.compile("[\u0300-\u036f]+")


def fold(text: str) -> str:
    """Lower case without diacritics: "Õunapuu" → "ounapuu", for accent-insensitive search.

    Letters without a decomposition (Cyrillic, "ø" …) are kept, only lower-cased.
    """
    folded = text.casefold()
    if folded.isascii():
        return folded
    return _COMBINING_MARKS.sub("", unicodedata.normalize("NFKD", folded))


# The columns an import writes, in the order `customer_rows` / `article_rows` give them.
COMMON_COLUMNS = (
    "connection_id",
    "code",
    "name",
    "closed",
    "directo_ts",
    "raw",
    "content_hash",
    "search_text",
)
CUSTOMER_COLUMNS = (
    *COMMON_COLUMNS,
    *("regno", "vatregno", "address1", "address2", "address3", "county", "country"),
    *("contact", "email", "phone"),
)
ARTICLE_COLUMNS = (*COMMON_COLUMNS, "unit")


RowBuilder = Callable[[Attrs, Children], tuple[Any, ...]]
_NO_CHILDREN: Children = {}
CODE = COMMON_COLUMNS.index("code")
NAME = COMMON_COLUMNS.index("name")
TS = COMMON_COLUMNS.index("directo_ts")
row_code = operator.itemgetter(CODE)
_with_children = feeds.with_unmodelled  # attributes + every non-empty child container
# What the models would hold in `ts`, every value they convert checked as they would.
_CUSTOMER_TS = feeds.reader(feeds.CUSTOMERS, "ts")
_ITEM_TS = feeds.reader(feeds.ITEMS, "ts")


def customer_rows(connection_id: uuid.UUID) -> RowBuilder:
    """A record builder for the customer feed giving `directo_customers` rows: what
    `tests/support/catalogue_reference.customer_record` makes of the feed's model, made from the
    attributes directly.

    It runs on the parse thread once per record, so it reads each attribute once and
    calls nothing it can do without (this and the parse are most of an import's own CPU
    time). A record the model would refuse raises the same `DirectoDecodeError`.
    """
    dumps, sort_keys, sha256 = orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.sha256

    def row(attrs: Attrs, found: Children = _NO_CHILDREN) -> tuple[Any, ...]:
        ts = _CUSTOMER_TS(attrs, found)
        get = attrs.get
        # The canonical JSON document: keys sorted, compact, UTF-8; attributes and the
        # child containers with entries (a customer's are its datafields, as a rule).
        document = dumps(
            ({**attrs, **found} if all(found.values()) else _with_children(attrs, found))
            if found
            else attrs,
            option=sort_keys,
        )
        name, code = get("name"), get("code") or ""
        regno, vatregno = get("regno") or None, get("vatregno") or None
        return (
            connection_id,
            code,
            name or "",
            get("closed") == "1",
            ts,
            document.decode(),
            sha256(document).digest(),
            fold(" ".join(filter(None, (name, code, regno, vatregno)))),
            regno,
            vatregno,
            get("address1") or None,
            get("address2") or None,
            get("address3") or None,
            get("county") or None,
            get("country") or None,
            get("contact") or None,
            get("email") or None,
            get("phone") or None,
        )

    return row


def article_rows(connection_id: uuid.UUID) -> RowBuilder:
    """Like `customer_rows`, for the item feed: `directo_articles` rows as
    `tests/support/catalogue_reference.article_record` makes them."""
    dumps, sort_keys, sha256 = orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.sha256

    def row(attrs: Attrs, found: Children = _NO_CHILDREN) -> tuple[Any, ...]:
        ts = _ITEM_TS(attrs, found)
        get = attrs.get
        document = dumps(_with_children(attrs, found) if found else attrs, option=sort_keys)
        name, code = get("name"), get("code") or ""
        return (
            connection_id,
            code,
            name or "",
            get("closed") == "1",
            ts,
            document.decode(),
            sha256(document).digest(),
            fold(" ".join(filter(None, (name, code)))),
            get("unit") or None,
        )

    return row
