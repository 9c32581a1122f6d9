"""All tables of the gateway. Importing this package registers every model on `Base.metadata`."""

from app.db.models.calls import DirectoCall
from app.db.models.catalog import DirectoArticle, DirectoCustomer, SyncWatermark
from app.db.models.connections import Client, ClientLink, Connection, Integration
from app.db.models.enums import (
    ConnectionHealth,
    ConnectionScope,
    DeliveryStatus,
    ExportStatus,
    JobStatus,
    PaymentStatus,
    ReloadClientStatus,
    StatisticsRead,
)
from app.db.models.events import (
    CallbackSecret,
    CompanyEventSequence,
    Event,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from app.db.models.exports import InvoiceExport
from app.db.models.jobs import Job
from app.db.models.statistics import (
    MonthlyStatistic,
    Reload,
    ReloadClient,
    StatisticsReadRecord,
    SummarySettings,
)

__all__ = [
    "CallbackSecret",
    "Client",
    "ClientLink",
    "CompanyEventSequence",
    "Connection",
    "ConnectionHealth",
    "ConnectionScope",
    "DeliveryStatus",
    "DirectoArticle",
    "DirectoCall",
    "DirectoCustomer",
    "Event",
    "ExportStatus",
    "Integration",
    "InvoiceExport",
    "Job",
    "JobStatus",
    "MonthlyStatistic",
    "PaymentStatus",
    "Reload",
    "ReloadClient",
    "ReloadClientStatus",
    "StatisticsRead",
    "StatisticsReadRecord",
    "SummarySettings",
    "SyncWatermark",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
]
