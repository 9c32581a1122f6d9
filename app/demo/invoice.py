"""The invoice the demo exports: every field the export needs, for the sandbox's data."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any


def demo_invoice_number(now: float | None = None) -> str:
    """A number no earlier demo run used: its digits (Directo's number, at most 9) count
    seconds, and never clash with the sandbox's own invoices (numbered from 100001)."""
    seconds = int(time.time() if now is None else now)
    return f"DEMO-{100_000_000 + seconds % 900_000_000}"


def demo_invoice(
    *, number: str, client_id: str, customer_code: str, today: dt.date
) -> dict[str, Any]:
    """An invoice of two rows: one by a named resource, one by the client's default
    resource (the resource's `external_code` becomes the row's object/salesman code)."""
    vat = {"id": "vat-24", "name": "24%", "external_code": "24"}
    return {
        "number": number,
        "invoice_date": today.isoformat(),
        "due_date": (today + dt.timedelta(days=14)).isoformat(),
        "currency": "EUR",
        "client_id": client_id,
        "customer_code": customer_code,
        "comment": "directo-gateway demo",
        "rows": [
            {
                "article_code": "RAAMAT",
                "description": "Bookkeeping, this month",
                "quantity": "1",
                "unit_price": "180.00",
                "vat_code": vat,
                "resource_id": "res-mari",
            },
            {
                "article_code": "KONS",
                "description": "Consultation",
                "quantity": "2.5",
                "unit_price": "60.00",
                "vat_code": vat,
            },
        ],
        "billing": {"default_resource_id": "res-jyri", "default_resource_is_default_user": False},
        "resources": [
            {"id": "res-mari", "name": "Mari Maasikas", "external_code": "MARI"},
            {"id": "res-jyri", "name": "Jüri Jõgi", "external_code": "JYRI"},
        ],
    }
