"""Which Directo feeds each product feature needs, which of them a connection's configuration
uses, and what a refusal met while doing some work means.

Customers out is what makes a connection usable at all (connecting starts a customer
import). Every other feed serves features; when a feature that is configured — invoice
export switched on, statistics fields mapped — needs a feed the token lacks, the connection
is `degraded`, with a hint to ask Directo to activate it, and that feature's work fails with
`feed_not_activated`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories import connections as connection_repo
from app.db.repositories import statistics as statistics_repo
from app.directo.capability_probe import (
    READS,
    Capability,
    DirectoFeedNotActivated,
    probe_connection,
)
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.errors import DirectoError, DirectoUnauthorized


class Feature(StrEnum):
    CUSTOMER_IMPORT = "customer_import"  # connecting, the import preview, client links
    ARTICLE_IMPORT = "article_import"  # the scheduled article refresh, the article list
    INVOICE_EXPORT = "invoice_export"
    PAID_STATUS = "paid_status"
    STATISTICS = "statistics"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


# What each capability enables. Invoice export also reads articles (its validation checks
# article codes against the imported ones) and invoices out (a put whose outcome is unknown
# is looked up by number before anything is sent again).
ENABLES: Mapping[Capability, tuple[Feature, ...]] = {
    Capability.CUSTOMERS_OUT: (Feature.CUSTOMER_IMPORT,),
    Capability.ARTICLES_OUT: (Feature.ARTICLE_IMPORT, Feature.INVOICE_EXPORT),
    Capability.INVOICES_IN: (Feature.INVOICE_EXPORT,),
    Capability.INVOICES_OUT: (Feature.INVOICE_EXPORT, Feature.PAID_STATUS, Feature.STATISTICS),
    Capability.RECEIPTS_OUT: (Feature.PAID_STATUS, Feature.STATISTICS),
    Capability.PURCHASES_OUT: (Feature.STATISTICS,),
    Capability.TRANSACTIONS_OUT: (Feature.STATISTICS,),
}

Needs = dict[Capability, list[Feature]]

# The feeds (`what`) statistics read for a field mapping, on a client's own connection
# (True) or the company's (False). Statistics sit above connections, so the caller passes
# their answer in (`app.statistics.compute.feeds_of_mapping`).
StatisticsFeeds = Callable[[Mapping[str, Any], bool], Sequence[str]]


def _need(needs: Needs, capability: Capability, feature: Feature) -> None:
    features = needs.setdefault(capability, [])
    if feature not in features:
        features.append(feature)


async def configured_needs(
    session: AsyncSession,
    *,
    company_id: str,
    client_id: str | None,
    statistics_feeds: StatisticsFeeds,
) -> Needs:
    """The capabilities this connection's configured features need, with those features.

    Always: customers out and articles out (imports run for every connection). With the
    integration's `invoice_export_enabled`: invoices in and out, articles out, receipts out
    (export and paid status). With summary settings: the feeds of the mapped fields, for a
    client's own connection (its whole database) or the company's (linked customers).
    """
    needs: Needs = {}
    _need(needs, Capability.CUSTOMERS_OUT, Feature.CUSTOMER_IMPORT)
    _need(needs, Capability.ARTICLES_OUT, Feature.ARTICLE_IMPORT)
    integration = await connection_repo.get_integration(session, company_id)
    if integration is not None and integration.invoice_export_enabled:
        for capability in (
            Capability.INVOICES_IN,
            Capability.ARTICLES_OUT,
            Capability.INVOICES_OUT,
        ):
            _need(needs, capability, Feature.INVOICE_EXPORT)
        _need(needs, Capability.INVOICES_OUT, Feature.PAID_STATUS)
        _need(needs, Capability.RECEIPTS_OUT, Feature.PAID_STATUS)
    settings = await statistics_repo.get_summary_settings(session, company_id)
    if settings is not None:
        for what in statistics_feeds(dict(settings.field_mapping), client_id is not None):
            _need(needs, READS[what], Feature.STATISTICS)
    return needs


def activation_hint(missing: Mapping[Capability, Sequence[Feature]]) -> str:
    """``Ask Directo to activate receipts out (for paid status) for this key, …``."""
    parts = []
    for capability, features in missing.items():
        uses = ", ".join(feature.label for feature in features)
        parts.append(f"{capability.label} (for {uses})" if uses else capability.label)
    return (
        f"Ask Directo to activate {' and '.join(parts)} for this XML Direct key, then test "
        "the connection again."
    )


@dataclass(frozen=True, slots=True)
class Work:
    """Work reading Directo for a feature: what a refusal met doing it is checked against."""

    feature: Feature
    needs: tuple[Capability, ...]
    directo: DirectoClient
    creds: DirectoCredentials


async def explain_refusal(error: DirectoError, work: Work) -> DirectoError:
    """What a refusal met while doing `work` means; returns the error to fail with.

    Directo answers Unauthorized both for a token it does not know and for a component the
    key is not licensed for. On such an answer this probes customers out and the work's
    needs (one call each, reading nothing): when customers out works and some need is
    refused, the answer is `DirectoFeedNotActivated` naming them; otherwise `error` stands
    (the token itself is refused). Any other error is returned as it is, without a call.
    """
    if not isinstance(error, DirectoUnauthorized):
        return error
    wanted = [c for c in dict.fromkeys(work.needs) if c is not Capability.CUSTOMERS_OUT]
    if not wanted:
        return error
    results = await probe_connection(work.directo, work.creds, [Capability.CUSTOMERS_OUT, *wanted])
    missing = [r.capability for r in results[1:] if r.code == "feed_not_activated"]
    if not results[0].ok or not missing:
        return error
    names = " and ".join(capability.label for capability in missing)
    return DirectoFeedNotActivated(
        f"Directo refused {names} to this key, which works otherwise; "
        f"{work.feature.label} needs {'them' if len(missing) > 1 else 'it'}.",
        capabilities=missing,
        hint=activation_hint({capability: [work.feature] for capability in missing}),
    )


def needs_of_feeds(whats: Sequence[str]) -> tuple[Capability, ...]:
    """The output capabilities that read the feeds `whats` (Directo's `what` names)."""
    return tuple(READS[what] for what in whats)


def missing_feeds(error: DirectoError) -> list[str]:
    """The capabilities a failure found not activated (none for any other failure)."""
    if isinstance(error, DirectoFeedNotActivated):
        return [capability.value for capability in error.capabilities]
    return []
