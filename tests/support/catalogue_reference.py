"""The catalogue import's rows as the feed's models give them: the reference the import's
fast path (`app.sync.catalogue.customer_rows` / `article_rows`, built from the parser's
attribute dicts) must equal, column for column."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson

from app.directo.schemas import DirectoCustomer as CustomerRecord
from app.directo.schemas import DirectoItem as ItemRecord
from app.sync.catalogue_rows import fold


def canonical_json(record: CustomerRecord | ItemRecord) -> bytes:
    """The record's `raw` (its attributes and the child containers its model does not type,
    e.g. `supplieritems`) with its datafields, as one canonical JSON document:
    keys sorted, no spaces, UTF-8 (no \\u escapes). Both the stored `raw` and the
    content-hash input, so equal content always hashes equally.

    Byte for byte what ``json.dumps(…, sort_keys=True, ensure_ascii=False,
    separators=(",", ":")).encode()`` gives (hashes stored before stay valid), at a
    fraction of its cost; the tests hold the two to that.
    """
    raw: dict[str, Any] = record.raw
    if record.datafields:
        raw = {**raw, "datafields": [field.raw for field in record.datafields]}
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


def customer_record(record: CustomerRecord, connection_id: uuid.UUID) -> tuple[Any, ...]:
    """One `directo_customers` row, in `CUSTOMER_COLUMNS` order.

    A flat tuple, built once per record of a feed: no per-row dicts to build and take
    apart again (the batch is copied column by column as it stands).
    """
    document = canonical_json(record)
    search = " ".join(filter(None, (record.name, record.code, record.regno, record.vatregno)))
    return (
        connection_id,
        record.code,
        record.name or "",
        record.closed,
        record.ts,
        document.decode(),
        hashlib.sha256(document).digest(),
        fold(search),
        record.regno,
        record.vatregno,
        record.address1,
        record.address2,
        record.address3,
        record.county,
        record.country,
        record.contact,
        record.email,
        record.phone,
    )


def article_record(record: ItemRecord, connection_id: uuid.UUID) -> tuple[Any, ...]:
    """One `directo_articles` row, in `ARTICLE_COLUMNS` order."""
    document = canonical_json(record)
    return (
        connection_id,
        record.code,
        record.name or "",
        record.closed,
        record.ts,
        document.decode(),
        hashlib.sha256(document).digest(),
        fold(" ".join(filter(None, (record.name, record.code)))),
        record.unit,
    )
