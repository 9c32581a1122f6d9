"""Delivering due webhooks: lease, sign, POST to the checked address, record the attempt.

Each call of `deliver_due` leases a batch of due deliveries (so two workers never send the
same attempt), sends them concurrently — a slow or dead endpoint holds up only its own
deliveries, bounded by the timeout — and records each attempt with its status code,
duration, error and next try. Outcomes: 2xx succeeds; 410 Gone disables the endpoint;
anything else (incl. timeouts, refused targets) is retried on the schedule, honouring
`Retry-After` on 429/503.

Each attempt is isolated: whatever fails while making it — a secret sealed under a key this
process lacks (`encryption_key_missing: …`), one that fails to decrypt, a bug — is recorded
as that attempt's error and the delivery follows the schedule to `failed`; the other
deliveries of the batch go out regardless.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from dataclasses import dataclass

import httpx
import structlog

from app import correlation
from app.db.models import DeliveryStatus
from app.db.repositories import webhooks as webhook_repo
from app.db.repositories.webhooks import ClaimedDelivery
from app.metrics import WEBHOOK_DELIVERIES
from app.resources import Resources
from app.security.crypto import EncryptionKeyMissing, SecretDecryptionError
from app.webhooks import service
from app.webhooks.outbox import envelope
from app.webhooks.schedule import next_attempt_delay, parse_retry_after
from app.webhooks.signing import headers as signed_headers
from app.webhooks.ssrf import Target, UnsafeTargetError, resolve_target

log = structlog.get_logger(__name__)

BATCH_SIZE = 50
MAX_PARALLEL = 20
PER_TARGET = 5  # a target's share of one batch: a slow receiver cannot starve the others


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    retry_after: dt.timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def _pinned_request(target: Target, body: bytes, request_headers: dict[str, str]) -> httpx.Request:
    """A request to the checked IP address, with the original Host and TLS server name."""
    url = httpx.URL(target.url)
    address = f"[{target.address}]" if ":" in target.address else target.address
    default_port = 443 if url.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    extensions = {"sni_hostname": target.host} if url.scheme == "https" else {}
    return httpx.Request(
        "POST",
        url.copy_with(host=address),
        content=body,
        headers={**request_headers, "host": host_header},
        extensions=extensions,
    )


async def _send(
    resources: Resources, claimed: ClaimedDelivery, secret: str, now: dt.datetime
) -> AttemptResult:
    url = claimed.endpoint.url if claimed.endpoint else claimed.delivery.callback_url
    assert url is not None
    try:
        target = await resolve_target(url, resources.settings.webhooks)
    except UnsafeTargetError as exc:
        return AttemptResult(status_code=None, error=f"{exc.code}: {exc.detail}")
    body = json.dumps(envelope(claimed.event), separators=(",", ":")).encode()
    request_headers = signed_headers(
        secret, message_id=str(claimed.event.id), timestamp=int(time.time()), body=body
    )
    if claimed.event.request_id is not None:
        request_headers[correlation.REQUEST_ID_HEADER] = claimed.event.request_id
    request = _pinned_request(target, body, request_headers)
    timeout = resources.settings.webhooks.timeout
    request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
    try:
        response = await resources.http.send(request)
        await response.aclose()
    except httpx.TimeoutException:
        return AttemptResult(status_code=None, error=f"timed out after {timeout:.0f} s")
    except httpx.HTTPError as exc:
        return AttemptResult(status_code=None, error=f"connection failed ({type(exc).__name__})")
    retry_after = None
    if response.status_code in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return AttemptResult(status_code=response.status_code, error=error, retry_after=retry_after)


def _secret_for(resources: Resources, claimed: ClaimedDelivery, callback_secret: str | None) -> str:
    if claimed.endpoint is not None:
        return service.endpoint_secret(claimed.endpoint, resources.secrets)
    assert callback_secret is not None
    return callback_secret


async def _callback_secret(resources: Resources, company_id: str) -> str:
    async with resources.sessionmaker() as session, session.begin():
        record = await service.ensure_callback_secret(session, company_id, resources.secrets)
        return service.open_callback_secret(record, resources.secrets)


async def _outcome(
    resources: Resources, claimed: ClaimedDelivery, now: dt.datetime
) -> tuple[AttemptResult, DeliveryStatus, dt.datetime | None]:
    """Make the attempt; whatever goes wrong becomes this attempt's error, so the delivery
    is recorded and follows the schedule (to `failed`) instead of being re-leased for ever."""
    if claimed.endpoint is not None and not claimed.endpoint.enabled:
        result = AttemptResult(
            status_code=None, error=f"endpoint disabled ({claimed.endpoint.disabled_reason})"
        )
        return result, DeliveryStatus.FAILED, None
    try:
        callback_secret = None
        if claimed.endpoint is None:
            callback_secret = await _callback_secret(resources, claimed.delivery.company_id)
        result = await _send(
            resources, claimed, _secret_for(resources, claimed, callback_secret), now
        )
    except EncryptionKeyMissing as exc:
        log.error("encryption_key_missing", key_id=exc.key_id)
        result = AttemptResult(status_code=None, error=f"{exc.code}: {exc}")
    except SecretDecryptionError:
        log.error("webhook_secret_undecryptable", delivery_id=str(claimed.delivery.id))
        result = AttemptResult(
            status_code=None, error="secret_undecryptable: the signing secret failed to decrypt"
        )
    except Exception as exc:  # isolation: one delivery's fault is its own, never the tick's
        log.exception("webhook_attempt_crashed", delivery_id=str(claimed.delivery.id))
        result = AttemptResult(
            status_code=None, error=f"internal_error: unexpected {type(exc).__name__}"
        )
    status, next_at = _next_state(claimed, result, now)
    return result, status, next_at


async def _attempt(resources: Resources, claimed: ClaimedDelivery) -> None:
    # Its log lines name the request and job that caused the event (README: Request ids).
    event = claimed.event
    with correlation.bound(request_id=event.request_id, job_id=event.job_id):
        await _attempt_bound(resources, claimed)


async def _attempt_bound(resources: Resources, claimed: ClaimedDelivery) -> None:
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    result, status, next_at = await _outcome(resources, claimed, now)
    async with resources.sessionmaker() as session, session.begin():
        recorded = await webhook_repo.record_attempt(
            session,
            claimed,
            attempted_at=now,
            status_code=result.status_code,
            duration_ms=int((time.perf_counter() - started) * 1000),
            error=result.error,
            next_attempt_at=next_at,
            final_status=status,
        )
        if recorded and result.gone and claimed.endpoint is not None:
            await webhook_repo.disable_endpoint(
                session, claimed.endpoint.id, reason="receiver answered 410 Gone"
            )
    WEBHOOK_DELIVERIES.labels("success" if result.succeeded else "failure").inc()
    log.info(
        "webhook_attempt",
        delivery_id=str(claimed.delivery.id),
        event_type=claimed.event.type,
        status_code=result.status_code,
        error=result.error,
        outcome=status.value,
    )


def _next_state(
    claimed: ClaimedDelivery, result: AttemptResult, now: dt.datetime
) -> tuple[DeliveryStatus, dt.datetime | None]:
    if result.succeeded:
        return DeliveryStatus.SUCCEEDED, None
    if result.gone:
        return DeliveryStatus.FAILED, None
    delay = next_attempt_delay(claimed.delivery.attempts + 1, retry_after=result.retry_after)
    if delay is None:
        return DeliveryStatus.FAILED, None
    return DeliveryStatus.PENDING, now + delay


async def deliver_due(resources: Resources, *, limit: int = BATCH_SIZE) -> int:
    """Send every delivery that is due (up to `limit`); returns how many were attempted."""
    now = dt.datetime.now(dt.UTC)
    lease = dt.timedelta(seconds=resources.settings.webhooks.timeout * 3 + 30)
    async with resources.sessionmaker() as session, session.begin():
        claimed = await webhook_repo.claim_due(
            session, now=now, lease=lease, limit=limit, per_target=PER_TARGET
        )
    gate = asyncio.Semaphore(MAX_PARALLEL)

    async def bounded(item: ClaimedDelivery) -> None:
        async with gate:
            await _attempt(resources, item)

    # An attempt that could not even be recorded (the database went away) must not cut
    # the others short: its lease lapses and a later tick sends it again.
    outcomes = await asyncio.gather(*(bounded(item) for item in claimed), return_exceptions=True)
    for item, outcome in zip(claimed, outcomes, strict=True):
        if isinstance(outcome, Exception):
            log.error(
                "webhook_attempt_not_recorded",
                delivery_id=str(item.delivery.id),
                error_type=type(outcome).__name__,
            )
        elif isinstance(outcome, BaseException):
            raise outcome  # cancellation and the like are the worker's, not a delivery's
    return len(claimed)
