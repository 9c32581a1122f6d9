"""Verify a delivery the way a receiver (Uku) should: signature and timestamp tolerance.

    from app.webhooks.verify import verify_webhook, WebhookVerificationError

    try:
        event = verify_webhook(secret, request.headers, raw_body)  # dict of the JSON body
    except WebhookVerificationError:
        return 400

It is the Standard Webhooks algorithm, so the `standardwebhooks` library verifies the same
deliveries (`Webhook(secret).verify(body, headers)`). Deduplicate on `webhook-id`: retries
and redeliveries of one event carry the same id.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from app.webhooks.signing import sign

DEFAULT_TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(Exception):
    """The delivery is not authentic, or too old/new to trust (replay protection)."""


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Return the parsed body if one `v1` signature matches and the timestamp is fresh."""
    lowered = {key.lower(): value for key, value in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        signatures = lowered["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise WebhookVerificationError("missing or malformed webhook headers") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookVerificationError("timestamp outside the tolerance window")
    expected = sign(secret, message_id=message_id, timestamp=timestamp, body=body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookVerificationError("no matching signature")
    parsed = json.loads(body)
    if not isinstance(parsed, dict):
        raise WebhookVerificationError("body is not a JSON object")
    return parsed
