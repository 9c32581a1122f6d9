"""The events the gateway announces."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    CUSTOMERS_IMPORTED = "customers.imported"
    ARTICLES_IMPORTED = "articles.imported"
    STATISTICS_IMPORTED = "statistics.imported"
    RELOAD_COMPLETED = "reload.completed"
    INVOICE_EXPORTED = "invoice.exported"
    INVOICE_EXPORT_FAILED = "invoice.export_failed"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_STATUS_CHANGED = "invoice.payment_status_changed"
    CONNECTION_FAILED = "connection.failed"
    JOB_FINISHED = "job.finished"
