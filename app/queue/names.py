"""Every background job the worker runs, by name. A test asserts each is registered."""

from __future__ import annotations

from enum import StrEnum


class JobName(StrEnum):
    PING = "ping"
    CUSTOMERS_IMPORT = "customers_import"
    ARTICLES_IMPORT = "articles_import"
    STATISTICS_IMPORT = "statistics_import"
    STATISTICS_RELOAD = "statistics_reload"
    INVOICE_EXPORT = "invoice_export"
    PAYMENT_POLL = "payment_poll"
