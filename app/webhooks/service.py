"""Webhook endpoints and callback secrets: creation with a secret shown once, sealed at rest."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import WebhookSettings
from app.db.models import CallbackSecret, WebhookDelivery, WebhookEndpoint
from app.db.repositories import webhooks as webhook_repo
from app.errors import AppError, Conflict, NotFound
from app.security.contexts import callback_context, endpoint_context
from app.security.crypto import Sealed, SecretBox
from app.webhooks.signing import generate_secret
from app.webhooks.ssrf import UnsafeTargetError, resolve_target
from app.webhooks.types import EventType


async def check_target(url: str, settings: WebhookSettings) -> None:
    """422 unless `url` is a target the gateway may call."""
    try:
        await resolve_target(url, settings)
    except UnsafeTargetError as exc:
        raise AppError(exc.code, exc.detail, status=422) from exc


async def create_endpoint(
    session: AsyncSession,
    *,
    company_id: str,
    url: str,
    event_types: list[EventType],
    description: str | None,
    settings: WebhookSettings,
    secrets: SecretBox,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its signing secret (the only time it is shown)."""
    await check_target(url, settings)
    endpoint_id = uuid.uuid4()
    secret = generate_secret()
    sealed = secrets.seal(secret, context=endpoint_context(endpoint_id))
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        company_id=company_id,
        url=url,
        event_types=sorted({event_type.value for event_type in event_types}),
        description=description,
        secret_encrypted=sealed.ciphertext,
        secret_key_id=sealed.key_id,
        enabled=True,
    )
    await webhook_repo.add_endpoint(session, endpoint)
    await session.refresh(endpoint, ["created_at", "updated_at"])
    return endpoint, secret


async def delete_endpoint(
    session: AsyncSession, *, company_id: str, endpoint_id: uuid.UUID
) -> None:
    """Stop deliveries to it; its delivery log is kept."""
    endpoint = await webhook_repo.get_endpoint(session, company_id, endpoint_id)
    if endpoint is None:
        raise NotFound("webhook endpoint")
    endpoint.deleted_at = dt.datetime.now(dt.UTC)
    endpoint.enabled = False
    endpoint.disabled_reason = "deleted"
    await session.flush()


async def redeliver(session: AsyncSession, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Make the delivery due now: the worker sends its event again (the same webhook-id, so
    receivers can deduplicate), its attempt numbering continuing. 404 for no such delivery."""
    delivery = await webhook_repo.get_delivery(session, delivery_id)
    if delivery is None:
        raise NotFound("webhook delivery")
    await webhook_repo.schedule_redelivery(session, delivery.id)
    await session.refresh(delivery)
    return delivery


def endpoint_secret(endpoint: WebhookEndpoint, secrets: SecretBox) -> str:
    sealed = Sealed(ciphertext=endpoint.secret_encrypted, key_id=endpoint.secret_key_id)
    return secrets.open(sealed, context=endpoint_context(endpoint.id))


async def ensure_callback_secret(
    session: AsyncSession, company_id: str, secrets: SecretBox
) -> CallbackSecret:
    """The company's callback secret, created on first use."""
    existing = await webhook_repo.get_callback_secret(session, company_id, for_update=True)
    if existing is not None:
        return existing
    sealed = secrets.seal(generate_secret(), context=callback_context(company_id))
    created = CallbackSecret(
        company_id=company_id, secret_encrypted=sealed.ciphertext, secret_key_id=sealed.key_id
    )
    session.add(created)
    await session.flush()
    return created


def open_callback_secret(record: CallbackSecret, secrets: SecretBox) -> str:
    sealed = Sealed(ciphertext=record.secret_encrypted, key_id=record.secret_key_id)
    return secrets.open(sealed, context=callback_context(record.company_id))


async def reveal_callback_secret(session: AsyncSession, company_id: str, secrets: SecretBox) -> str:
    """The callback secret, once: a second reveal is refused (rotate to get a new one)."""
    record = await ensure_callback_secret(session, company_id, secrets)
    if record.revealed_at is not None:
        raise Conflict(
            "secret_already_revealed",
            "The callback secret was already shown once; rotate it to get a new one.",
        )
    record.revealed_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return open_callback_secret(record, secrets)


async def rotate_callback_secret(session: AsyncSession, company_id: str, secrets: SecretBox) -> str:
    """Replace the callback secret and show the new one (this once)."""
    record = await ensure_callback_secret(session, company_id, secrets)
    sealed = secrets.seal(generate_secret(), context=callback_context(company_id))
    record.secret_encrypted, record.secret_key_id = sealed.ciphertext, sealed.key_id
    record.revealed_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return open_callback_secret(record, secrets)
