"""Events and signed webhooks against a real receiver on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email.utils
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from standardwebhooks import Webhook

from app.db.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.db.repositories.events import WrittenEvent
from app.resources import Resources
from app.webhooks.delivery import deliver_due
from app.webhooks.outbox import emit, emit_many
from app.webhooks.schedule import MAX_ATTEMPTS, MAX_RETRY_AFTER, parse_retry_after
from app.webhooks.ssrf import UnsafeTargetError, resolve_target
from app.webhooks.types import EventType
from app.webhooks.verify import verify_webhook
from app.worker.crons import deliver_webhooks
from tests.conftest import make_settings
from tests.support.helpers import run_worker_burst
from tests.support.keys import NEW_KEY, OLD_KEY, api_client, with_keys
from tests.support.receiver import Receiver, running_receiver
from tests.support.statements import counted_statements

COMPANY = "firm-1"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def register(client: AsyncClient, url: str, **extra: object) -> dict[str, object]:
    response = await client.post(
        f"/v1/companies/{COMPANY}/webhook-endpoints", json={"url": url, **extra}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def emit_committed(
    db: Resources,
    type_: EventType = EventType.CUSTOMERS_IMPORTED,
    company: str = COMPANY,
    **payload: object,
) -> WrittenEvent:
    async with db.sessionmaker() as session, session.begin():
        return await emit(
            session, company_id=company, type_=type_, payload=dict(payload) or {"n": 1}
        )


async def make_due_now(db: Resources) -> None:
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING)
            .values(next_attempt_at=func.now() - dt.timedelta(seconds=1))
        )


async def deliveries(client: AsyncClient, endpoint_id: object) -> list[dict[str, object]]:
    response = await client.get(
        f"/v1/companies/{COMPANY}/webhook-endpoints/{endpoint_id}/deliveries"
    )
    assert response.status_code == 200
    return list(response.json()["items"])


@pytest.mark.slow
async def test_registration_shows_the_secret_once(client: AsyncClient, receiver: Receiver) -> None:
    created = await register(
        client, receiver.url(), event_types=["invoice.paid"], description="Uku"
    )
    assert str(created["secret"]).startswith("whsec_")
    assert created["event_types"] == ["invoice.paid"]
    listed = (await client.get(f"/v1/companies/{COMPANY}/webhook-endpoints")).json()["items"]
    assert listed == [{key: value for key, value in created.items() if key != "secret"}]
    one = await client.get(f"/v1/companies/{COMPANY}/webhook-endpoints/{created['id']}")
    assert "secret" not in one.json()
    assert (
        await client.get(f"/v1/companies/other/webhook-endpoints/{created['id']}")
    ).status_code == 404
    assert (
        await client.delete(f"/v1/companies/{COMPANY}/webhook-endpoints/{created['id']}")
    ).status_code == 204
    assert (
        await client.get(f"/v1/companies/{COMPANY}/webhook-endpoints/{created['id']}")
    ).status_code == 404


async def test_delivery_is_signed_the_standard_webhooks_way(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    created = await register(client, receiver.url())
    event = await emit_committed(db, added=3)
    assert await deliver_due(db) == 1

    [request] = receiver.requests
    body = json.loads(request.body)
    assert body == {
        "id": str(event.id),
        "type": "customers.imported",
        "company_id": COMPANY,
        "sequence": 1,
        "timestamp": event.created_at.isoformat(),
        "data": {"added": 3},
    }
    assert request.headers["webhook-id"] == str(event.id)
    # The public library and the package's helper both accept it.
    Webhook(str(created["secret"])).verify(request.body, request.headers)
    assert verify_webhook(str(created["secret"]), request.headers, request.body) == body
    [delivery] = await deliveries(client, created["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "succeeded",
        1,
        200,
    )


@pytest.mark.slow
async def test_three_failures_then_success_is_one_success_after_four_attempts(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    created = await register(client, receiver.url())
    receiver.respond(500, 502, 500)
    await emit_committed(db)
    for _ in range(4):
        assert await deliver_due(db) == 1
        await make_due_now(db)
    assert await deliver_due(db) == 0  # nothing left to send

    assert [request.headers["webhook-id"] for request in receiver.requests] == [
        receiver.requests[0].headers["webhook-id"]
    ] * 4
    [delivery] = await deliveries(client, created["id"])
    assert delivery["status"] == "succeeded"
    assert [attempt["status_code"] for attempt in delivery["attempt_log"]] == [500, 502, 500, 200]
    assert [attempt["attempt"] for attempt in delivery["attempt_log"]] == [1, 2, 3, 4]
    assert delivery["attempt_log"][0]["error"] == "HTTP 500"
    assert delivery["attempt_log"][3]["next_attempt_at"] is None


async def test_schedule_after_first_failure_is_five_seconds(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    created = await register(client, receiver.url())
    receiver.respond(500)
    await emit_committed(db)
    await deliver_due(db)
    [delivery] = await deliveries(client, created["id"])
    attempt = delivery["attempt_log"][0]
    gap = dt.datetime.fromisoformat(attempt["next_attempt_at"]) - dt.datetime.fromisoformat(
        attempt["attempted_at"]
    )
    assert gap == dt.timedelta(seconds=5)
    assert await deliver_due(db) == 0  # not due yet


async def test_429_retry_after_is_honoured(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    created = await register(client, receiver.url())
    receiver.respond(429, headers={"Retry-After": "3600"})
    await emit_committed(db)
    await deliver_due(db)
    [delivery] = await deliveries(client, created["id"])
    attempt = delivery["attempt_log"][0]
    gap = dt.datetime.fromisoformat(attempt["next_attempt_at"]) - dt.datetime.fromisoformat(
        attempt["attempted_at"]
    )
    assert gap == dt.timedelta(hours=1)
    assert delivery["status"] == "pending"


async def test_410_disables_the_endpoint(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    created = await register(client, receiver.url())
    receiver.respond(410)
    await emit_committed(db)
    await deliver_due(db)
    endpoint = (
        await client.get(f"/v1/companies/{COMPANY}/webhook-endpoints/{created['id']}")
    ).json()
    assert (endpoint["enabled"], endpoint["disabled_reason"]) == (
        False,
        "receiver answered 410 Gone",
    )
    [delivery] = await deliveries(client, created["id"])
    assert delivery["status"] == "failed"
    await emit_committed(db)  # a disabled endpoint gets no new deliveries
    assert len(await deliveries(client, created["id"])) == 1


async def test_redelivery_sends_the_same_event_again(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    created = await register(client, receiver.url())
    await emit_committed(db)
    await deliver_due(db)
    [delivery] = await deliveries(client, created["id"])
    response = await client.post(f"/v1/webhook-deliveries/{delivery['id']}/redeliver")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    await deliver_due(db)
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    [again] = await deliveries(client, created["id"])
    assert (again["status"], again["attempts"]) == ("succeeded", 2)
    assert (
        await client.post(f"/v1/webhook-deliveries/{uuid.uuid4()}/redeliver")
    ).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://172.16.5.5/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
    ],
)
async def test_private_targets_are_refused_unless_allowed(url: str) -> None:
    strict = make_settings(webhooks={"allow_private_targets": False, "allow_http": True}).webhooks
    with pytest.raises(UnsafeTargetError) as refused:
        await resolve_target(url, strict)
    assert refused.value.code == "url_not_public"
    lenient = make_settings(webhooks={"allow_private_targets": True, "allow_http": True}).webhooks
    assert (await resolve_target(url, lenient)).url == url


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/x", "url_invalid"),
        ("http://93.184.216.34/hook", "url_not_https"),
        ("https://user:pw@93.184.216.34/", "url_invalid"),
        ("not a url", "url_invalid"),
    ],
)
async def test_bad_urls_are_refused_with_their_code(url: str, code: str) -> None:
    strict = make_settings(webhooks={"allow_private_targets": False, "allow_http": False}).webhooks
    with pytest.raises(UnsafeTargetError) as refused:
        await resolve_target(url, strict)
    assert refused.value.code == code


async def test_public_https_target_is_accepted_without_any_traffic() -> None:
    strict = make_settings(webhooks={"allow_private_targets": False, "allow_http": False}).webhooks
    target = await resolve_target("https://93.184.216.34:8443/hook", strict)
    assert (target.host, target.port, target.address) == ("93.184.216.34", 8443, "93.184.216.34")


async def test_registration_refuses_private_target_with_a_422(db: Resources) -> None:
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport

    from app.main import create_app
    from tests.conftest import API_KEY

    app = create_app(make_settings(webhooks={"allow_private_targets": False, "allow_http": True}))
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app),
            base_url="http://t",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as strict_client,
    ):
        response = await strict_client.post(
            f"/v1/companies/{COMPANY}/webhook-endpoints", json={"url": "http://127.0.0.1:9/x"}
        )
    assert response.status_code == 422
    assert response.json()["code"] == "url_not_public"


async def test_private_target_is_refused_again_at_delivery(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    created = await register(client, receiver.url())  # allowed when registered
    await emit_committed(db)
    strict = dataclasses.replace(
        db, settings=make_settings(webhooks={"allow_private_targets": False, "allow_http": True})
    )
    await deliver_due(strict)
    assert receiver.requests == []
    [delivery] = await deliveries(client, created["id"])
    assert delivery["status"] == "pending"
    assert str(delivery["last_error"]).startswith("url_not_public")


@pytest.mark.slow
async def test_an_event_whose_transaction_rolls_back_is_never_announced(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    await register(client, receiver.url())
    async with db.sessionmaker() as session:
        await emit(session, company_id=COMPANY, type_=EventType.CUSTOMERS_IMPORTED, payload={})
        await session.rollback()
    assert await deliver_due(db) == 0
    assert (await client.get(f"/v1/companies/{COMPANY}/events")).json() == {
        "items": [],
        "next_after_sequence": 0,
    }
    event = await emit_committed(db)
    assert event.sequence == 1  # the rolled-back event left no gap


async def test_after_sequence_catch_up_returns_what_was_missed(
    client: AsyncClient, db: Resources
) -> None:
    for n in range(5):
        await emit_committed(db, n=n)
    await emit_committed(db, company="another-firm")
    page = (
        await client.get(f"/v1/companies/{COMPANY}/events", params={"after_sequence": 2})
    ).json()
    assert [item["sequence"] for item in page["items"]] == [3, 4, 5]
    assert [item["data"]["n"] for item in page["items"]] == [2, 3, 4]
    assert page["next_after_sequence"] == 5
    limited = (
        await client.get(
            f"/v1/companies/{COMPANY}/events", params={"after_sequence": 0, "limit": 2}
        )
    ).json()
    assert [item["sequence"] for item in limited["items"]] == [1, 2]
    other = (await client.get("/v1/companies/another-firm/events")).json()
    assert [item["sequence"] for item in other["items"]] == [1]


async def test_concurrent_emitters_get_gapless_unique_sequences(db: Resources) -> None:
    events = await asyncio.gather(*(emit_committed(db, n=n) for n in range(20)))
    assert sorted(event.sequence for event in events) == list(range(1, 21))


async def test_emit_many_numbers_events_in_order_with_their_deliveries_in_four_statements(
    client: AsyncClient, db: Resources
) -> None:
    first = await register(client, "http://127.0.0.1:9/a")
    second = await register(client, "http://127.0.0.1:9/b", event_types=["invoice.paid"])
    await emit_committed(db, n=0)  # the numbering continues after earlier events
    with counted_statements(db) as sent:
        async with db.sessionmaker() as session, session.begin():
            events = await emit_many(
                session,
                company_id=COMPANY,
                type_=EventType.CUSTOMERS_IMPORTED,
                payloads=[{"n": n} for n in range(1, 51)],
                callback_url="http://127.0.0.1:9/callback",
            )
    assert len(sent) == 4, sent  # sequences, events, subscribers, deliveries: not per event
    assert [event.sequence for event in events] == list(range(2, 52))
    page = (
        await client.get(f"/v1/companies/{COMPANY}/events", params={"after_sequence": 1})
    ).json()
    assert [(item["sequence"], item["data"]["n"]) for item in page["items"]] == [
        (n + 1, n) for n in range(1, 51)
    ]
    async with db.sessionmaker() as session:
        rows = (await session.scalars(select(WebhookDelivery))).all()
    by_event: dict[uuid.UUID, set[str]] = {}
    for row in rows:
        target = str(row.endpoint_id) if row.endpoint_id else str(row.callback_url)
        by_event.setdefault(row.event_id, set()).add(target)
    created_at = {event.id: event.created_at for event in events}
    for event in events:  # the endpoint of other event types gets none
        assert by_event[event.id] == {first["id"], "http://127.0.0.1:9/callback"}
        assert second["id"] not in by_event[event.id]
    assert all(
        row.next_attempt_at == created_at[row.event_id]
        for row in rows
        if row.event_id in created_at
    )
    assert all(row.status is DeliveryStatus.PENDING for row in rows)


async def test_emit_many_of_nothing_writes_nothing(db: Resources) -> None:
    with counted_statements(db) as sent:
        async with db.sessionmaker() as session, session.begin():
            assert (
                await emit_many(
                    session, company_id=COMPANY, type_=EventType.INVOICE_PAID, payloads=[]
                )
                == []
            )
    assert sent == []
    assert (await emit_committed(db)).sequence == 1


@pytest.mark.slow
async def test_two_burst_workers_deliver_each_attempt_once(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    await register(client, receiver.url())
    for n in range(30):
        await emit_committed(db, n=n)
    await asyncio.gather(run_worker_burst(db.settings), run_worker_burst(db.settings))
    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert len(ids) == 30
    assert len(set(ids)) == 30
    async with db.sessionmaker() as session:
        statuses = (
            await session.execute(select(WebhookDelivery.status, WebhookDelivery.attempts))
        ).all()
    assert sorted(set(statuses)) == [(DeliveryStatus.SUCCEEDED, 1)]


async def test_callback_is_signed_with_the_company_callback_secret(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    async with db.sessionmaker() as session, session.begin():
        await emit(
            session,
            company_id=COMPANY,
            type_=EventType.RELOAD_COMPLETED,
            payload={"status": "succeeded"},
            callback_url=receiver.url("/cb"),
        )
    await deliver_due(db)
    [request] = receiver.requests
    assert request.path == "/cb"
    revealed = await client.post(f"/v1/companies/{COMPANY}/callback-secret/reveal")
    assert revealed.status_code == 200
    secret = revealed.json()["secret"]
    assert verify_webhook(secret, request.headers, request.body)["type"] == "reload.completed"
    again = await client.post(f"/v1/companies/{COMPANY}/callback-secret/reveal")
    assert (again.status_code, again.json()["code"]) == (409, "secret_already_revealed")
    rotated = (await client.post(f"/v1/companies/{COMPANY}/callback-secret/rotate")).json()[
        "secret"
    ]
    assert rotated != secret


async def test_delivery_log_pages_with_an_opaque_cursor(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    created = await register(client, receiver.url())
    for n in range(5):
        await emit_committed(db, n=n)
    url = f"/v1/companies/{COMPANY}/webhook-endpoints/{created['id']}/deliveries"
    first = (await client.get(url, params={"limit": 3})).json()
    second = (await client.get(url, params={"limit": 3, "cursor": first["next_cursor"]})).json()
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert len(ids) == 5
    assert len(set(ids)) == 5
    assert second["next_cursor"] is None
    bad = await client.get(url, params={"cursor": "garbage!"})
    assert (bad.status_code, bad.json()["code"]) == (422, "cursor_invalid")


@pytest.mark.slow
async def test_a_slow_endpoint_with_a_backlog_does_not_hold_up_another(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    await register(client, receiver.url("/slow"))
    receiver.delays["/slow"] = 0.5
    for n in range(30):
        await emit_committed(db, n=n)
    await register(client, receiver.url("/fast"))
    await emit_committed(db, n=99)  # due after the whole slow backlog

    attempted = await deliver_due(db)

    paths = [request.path for request in receiver.requests]
    assert paths.count("/fast") == 1
    assert paths.count("/slow") == 5  # its share of the batch; the rest wait for the next
    assert attempted == 6
    assert receiver.most_in_flight >= 5  # sent side by side, not one after another


def first_gap(delivery: dict[str, Any]) -> dt.timedelta:
    attempt = delivery["attempt_log"][0]
    return dt.datetime.fromisoformat(attempt["next_attempt_at"]) - dt.datetime.fromisoformat(
        attempt["attempted_at"]
    )


# What a receiver may send as Retry-After, and the wait the gateway makes of it.
HOSTILE_RETRY_AFTER = {
    "/twenty-digits": ("99999999999999999999", dt.timedelta(hours=24)),
    "/superscript-two": ("²", dt.timedelta(seconds=5)),
    "/arabic-indic": ("٣٠", dt.timedelta(seconds=5)),
    "/negative": ("-30", dt.timedelta(seconds=5)),
    "/prose": ("soon, maybe", dt.timedelta(seconds=5)),
    "/year-9999": ("Fri, 31 Dec 9999 23:59:59 GMT", dt.timedelta(hours=24)),
    "/impossible-date": ("Mon, 32 Foo 2026 25:61:61 GMT", dt.timedelta(seconds=5)),
}


async def test_hostile_retry_after_is_recorded_and_the_tick_delivers_everything_else(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    endpoints = {}
    for path, (value, _) in HOSTILE_RETRY_AFTER.items():
        receiver.always(path, 429, headers={"Retry-After": value})
        endpoints[path] = await register(client, receiver.url(path))
    good = await register(client, receiver.url("/good"))
    await emit_committed(db)

    assert await deliver_webhooks({"resources": db}) == len(HOSTILE_RETRY_AFTER) + 1

    assert sorted(request.path for request in receiver.requests) == sorted(
        [*HOSTILE_RETRY_AFTER, "/good"]
    )
    for path, (_, wait) in HOSTILE_RETRY_AFTER.items():
        [delivery] = await deliveries(client, endpoints[path]["id"])
        assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
            "pending",
            1,
            "HTTP 429",
        ), path
        assert first_gap(delivery) == wait, path
    [delivered] = await deliveries(client, good["id"])
    assert (delivered["status"], delivered["attempts"]) == ("succeeded", 1)
    assert await deliver_webhooks({"resources": db}) == 0  # nothing re-sent a minute later


@pytest.mark.slow
async def test_a_receiver_answering_absurdly_for_ever_ends_failed_on_schedule(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    receiver.always("/hook", 429, headers={"Retry-After": "99999999999999999999"})
    created = await register(client, receiver.url("/hook"))
    await emit_committed(db)
    for _ in range(MAX_ATTEMPTS):
        assert await deliver_webhooks({"resources": db}) == 1
        await make_due_now(db)
    assert await deliver_webhooks({"resources": db}) == 0

    [delivery] = await deliveries(client, created["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert [attempt["status_code"] for attempt in delivery["attempt_log"]] == [429] * MAX_ATTEMPTS
    assert delivery["attempt_log"][-1]["next_attempt_at"] is None
    assert len(receiver.requests) == MAX_ATTEMPTS


async def test_secrets_that_cannot_be_opened_fail_their_own_delivery_only(
    client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    """A replica without the new key, and a damaged ciphertext: those deliveries record the
    reason and follow the schedule; every other delivery of the tick still goes out."""
    damaged = await register(client, receiver.url("/damaged"))
    async with api_client(with_keys(db.settings, NEW_KEY, OLD_KEY)) as rotated_replica:
        response = await rotated_replica.post(
            f"/v1/companies/{COMPANY}/webhook-endpoints", json={"url": receiver.url("/new-key")}
        )
        assert response.status_code == 201
        under_new_key = response.json()
        # The company's callback secret is created under the new key too.
        assert (
            await rotated_replica.post(f"/v1/companies/{COMPANY}/callback-secret/reveal")
        ).status_code == 200
    good = await register(client, receiver.url("/good"))
    async with db.sessionmaker() as session, session.begin():
        stored = await session.get_one(WebhookEndpoint, uuid.UUID(str(damaged["id"])))
        stored.secret_encrypted = stored.secret_encrypted[:-1] + bytes(
            [stored.secret_encrypted[-1] ^ 1]
        )
        await emit(
            session,
            company_id=COMPANY,
            type_=EventType.RELOAD_COMPLETED,
            payload={"status": "succeeded"},
            callback_url=receiver.url("/callback"),
        )

    # `db` is configured with the old key only, like a replica not yet redeployed.
    assert await deliver_webhooks({"resources": db}) == 4
    assert [request.path for request in receiver.requests] == ["/good"]
    [delivered] = await deliveries(client, good["id"])
    assert delivered["status"] == "succeeded"
    missing = (
        "encryption_key_missing: a stored secret is sealed under encryption key 'k-new', "
        "which this process is not configured with"
    )
    [new_key_delivery] = await deliveries(client, under_new_key["id"])
    assert (new_key_delivery["status"], new_key_delivery["last_error"]) == ("pending", missing)
    async with db.sessionmaker() as session:
        callback = await session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.endpoint_id.is_(None))
        )
    assert callback is not None
    assert (callback.status, callback.attempts, callback.last_error) == (
        DeliveryStatus.PENDING,
        1,
        missing,
    )

    for _ in range(MAX_ATTEMPTS - 1):
        await make_due_now(db)
        assert await deliver_webhooks({"resources": db}) == 3
    [damaged_delivery] = await deliveries(client, damaged["id"])
    assert (damaged_delivery["status"], damaged_delivery["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert damaged_delivery["last_error"] == (
        "secret_undecryptable: the signing secret failed to decrypt"
    )
    assert [request.path for request in receiver.requests] == ["/good"]


NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


@given(st.text() | st.from_regex(r"\A\s*[0-9]{1,40}\s*\Z") | st.none())
def test_retry_after_never_raises_and_stays_within_the_cap(value: str | None) -> None:
    wait = parse_retry_after(value, now=NOW)
    assert wait is None or dt.timedelta(0) <= wait <= MAX_RETRY_AFTER


@given(st.integers(min_value=0, max_value=10**30))
def test_retry_after_seconds_are_honoured_up_to_the_cap(seconds: int) -> None:
    wait = parse_retry_after(str(seconds), now=NOW)
    assert wait == min(dt.timedelta(seconds=min(seconds, 10**9)), MAX_RETRY_AFTER)


@given(
    st.datetimes(min_value=dt.datetime(1000, 1, 1), timezones=st.just(dt.UTC)).map(
        lambda when: when.replace(microsecond=0)  # HTTP dates have whole seconds
    )
)
def test_retry_after_http_dates_are_honoured_up_to_the_cap(when: dt.datetime) -> None:
    wait = parse_retry_after(email.utils.format_datetime(when, usegmt=True), now=NOW)
    assert wait == min(max(when - NOW, dt.timedelta(0)), MAX_RETRY_AFTER)


@pytest.mark.parametrize("value", ["", "  ", "1.5", "+5", "5 s", "0x10", "²", "１０"])
def test_retry_after_that_is_neither_seconds_nor_a_date_is_ignored(value: str) -> None:
    assert parse_retry_after(value, now=NOW) is None
