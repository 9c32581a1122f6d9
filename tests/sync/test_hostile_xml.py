"""Hostile XML from Directo, at the job level: a real customers import run by a real worker
against a Directo stand-in on loopback that answers the feed request with hostile XML.

`tests/directo/test_hostile.py` proves the decoder refuses these documents; this proves the
whole job does: it ends `failed` with `decode_error` after a single call (retrying cannot
help), within a second of starting, without the process growing, without fetching anything
the document points at, and without writing a single customer — even when the hostile part
comes after thousands of good records, some of them already written in the job's
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import pytest
import uvicorn
from httpx import AsyncClient
from sqlalchemy import func, select
from starlette.types import Receive, Scope, Send

from app.config import Settings
from app.db.models import DirectoCustomer
from app.directo.client import XML_DIRECT_PATH
from app.directo.sandbox import DatabaseSpec, SandboxState, Sizes, TokenSpec
from app.directo.sandbox.filters import Filters
from app.directo.sandbox.xml import feed_chunks
from app.resources import Resources
from tests.directo.test_hostile import (
    BILLION_LAUGHS,
    DEEP,
    DEEP_IN_RECORD,
    EXTERNAL_DTD,
    HUGE_EXPANSION,
    XXE,
)
from tests.support.helpers import run_worker_burst
from tests.support.receiver import free_port

GOOD = 2500  # records in a harmless feed (more than one import batch of 2,000)
EMPTY_FEED = b'<?xml version="1.0" encoding="UTF-8"?><transport></transport>'
CHUNK = 64 * 1024
# The worker run as a whole (ten feeds side by side, two of them with 2,500 good records
# parsed and written) grows by ~35 MiB; any expansion would take ≥ 1 GiB (the declared
# one) or ≈ 3 GB (billion laughs).
MAX_RSS_GROWTH = 128 * 1024 * 1024
MAX_SECONDS = 1.0


@dataclass(frozen=True)
class Call:
    at: float  # time.time()
    path: str
    token: str
    what: str


@dataclass
class DirectoStandIn:
    """An XML Direct look-alike that answers each token's customer feed with the body set
    for that token (streamed in the given read size) and every other feed with an empty
    document; it records every request, so a document that made the gateway fetch an
    external entity or DTD from here would show."""

    port: int
    bodies: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
        token, what = form.get("token", ""), form.get("what", "")
        self.calls.append(Call(time.time(), scope["path"], token, what))
        if scope["path"] != XML_DIRECT_PATH:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body, chunk = self.bodies.get(token, (EMPTY_FEED, CHUNK))
        if what != "customer":
            body, chunk = EMPTY_FEED, CHUNK
        headers = [(b"content-type", b"text/xml; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for offset in range(0, len(body), chunk):
            piece = body[offset : offset + chunk]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def stand_in() -> AsyncIterator[DirectoStandIn]:
    app = DirectoStandIn(port=free_port())
    config = uvicorn.Config(
        app, host="127.0.0.1", port=app.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield app
    finally:
        server.should_exit = True
        await task


def _good_feed_then(tail: bytes, customers: int) -> bytes:
    """The sandbox's customer feed of `customers` good records, with `tail` spliced in
    before the end of the list."""
    state = SandboxState([DatabaseSpec(name="good", seed=7, sizes=Sizes(customers=customers))], [])
    good = b"".join(feed_chunks("customer", state.database("good").records("customer", Filters())))
    head, end = good.rsplit(b"</customers>", 1)
    return head + tail + b"</customers>" + end


def _parameter_entity_to(stand_in: DirectoStandIn) -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY % remote SYSTEM "'
        + f"{stand_in.url}/evil.dtd".encode()
        + b'">%remote;]><transport/>'
    )


def _external_dtd_at(stand_in: DirectoStandIn) -> bytes:
    return EXTERNAL_DTD.replace(b"http://127.0.0.1:9/t.dtd", f"{stand_in.url}/t.dtd".encode())


@dataclass(frozen=True)
class Case:
    id: str
    body: Callable[[DirectoStandIn], bytes]
    message: str
    chunk: int = CHUNK
    # Refused as soon as the hostile part arrives; a case that first carries good records
    # also spends the time to parse and write those.
    max_seconds: float = MAX_SECONDS


DTD = "DOCTYPE/ENTITY"
CASES = [
    Case("billion-laughs", lambda _: BILLION_LAUGHS, DTD),
    # The DOCTYPE arrives over many reads: it must not slip through between them.
    Case("billion-laughs-in-7-byte-reads", lambda _: BILLION_LAUGHS, DTD, chunk=7),
    Case("1gb-declared-expansion", lambda _: HUGE_EXPANSION, DTD),
    Case("external-entity-file", lambda _: XXE, DTD),
    Case("external-parameter-entity-url", _parameter_entity_to, DTD),
    Case("external-dtd-url", _external_dtd_at, DTD),
    Case("deep-nesting", lambda _: DEEP, "deeper than 32"),
    Case("deep-nesting-in-a-record", lambda _: DEEP_IN_RECORD, "deeper than 32"),
    # 2,500 good records first: one full batch (2,000) is already written in the job's
    # transaction when the hostile part arrives; it must be rolled back with the rest.
    Case(
        "deep-nesting-after-2500-good-records",
        lambda _: _good_feed_then(b"<customer code='X'>" + b"<a>" * 5000, GOOD),
        "deeper than 32",
        max_seconds=10,
    ),
]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


@contextlib.contextmanager
def rss_growth() -> Iterator[Callable[[], int]]:
    """Yields a function giving the peak RSS growth (bytes) over the block.

    The kernel's own high-water mark is reset first (`clear_refs` 5) so nothing escapes
    between samples; where that is not allowed, a thread samples RSS every millisecond.
    """
    baseline = _rss_bytes()
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        exact = True
    except OSError:
        exact = False
    sampled = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal sampled
        while not done.wait(0.001):
            sampled = max(sampled, _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    peak: list[int] = []
    try:
        yield lambda: peak[0] - baseline
    finally:
        done.set()
        sampler.join()
        peak.append(max(sampled, _peak_rss_bytes() if exact else 0))


def _settings_for(db: Resources, stand_in: DirectoStandIn) -> Settings:
    directo = db.settings.directo.model_copy(update={"base_url": stand_in.url})
    return db.settings.model_copy(update={"directo": directo})


@dataclass
class Started:
    case: Case | None  # None: the control, a harmless feed
    token: str
    job_id: str
    connection_id: str


async def _connect(client: AsyncClient, sandbox: SandboxState, n: int) -> tuple[str, str, str]:
    """A company connected with its own (sandbox-tested) token; (token, job id, conn id)."""
    token, company = f"hostile-token-{n}", f"hostile-firm-{n}"
    sandbox.add_token(TokenSpec(token, "demo_ee"))
    assert (await client.put(f"/v1/companies/{company}/directo", json={})).status_code == 201
    connected = await client.put(
        f"/v1/companies/{company}/directo/connection", json={"token": token}
    )
    assert connected.status_code == 201, connected.text
    body = connected.json()
    return token, body["import_job"]["id"], body["connection"]["id"]


async def _customers_of(db: Resources, connection_id: str) -> int:
    async with db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(DirectoCustomer)
            .where(DirectoCustomer.connection_id == uuid.UUID(connection_id))
        )
    return int(count or 0)


@pytest.mark.slow
async def test_hostile_feeds_fail_their_import_jobs_fast_flat_and_whole(
    client: AsyncClient, db: Resources, sandbox: SandboxState, stand_in: DirectoStandIn
) -> None:
    # Each case is a company whose connection was tested against the sandbox, so its
    # customers import is queued; the worker then meets a Directo (the stand-in) that
    # answers that token's feed with the case's document. One worker run takes them all,
    # side by side, plus a control company whose feed is harmless.
    started: list[Started] = []
    for n, case in enumerate([*CASES, None]):
        token, job_id, connection_id = await _connect(client, sandbox, n)
        body = _good_feed_then(b"", GOOD) if case is None else case.body(stand_in)
        stand_in.bodies[token] = (body, case.chunk if case else CHUNK)
        started.append(Started(case, token, job_id, connection_id))

    with rss_growth() as growth:
        await run_worker_burst(_settings_for(db, stand_in))

    problems: list[str] = []
    for run in started:
        name = run.case.id if run.case else "control"
        job = (await client.get(f"/v1/jobs/{run.job_id}")).json()
        if run.case is None:
            if (job["status"], job["counts"].get("added")) != ("succeeded", GOOD):
                problems.append(f"{name}: the harmless feed did not import: {job}")
            continue
        if (job["status"], job["attempts"]) != ("failed", 1):
            problems.append(f"{name}: job {job['status']} after {job['attempts']} attempt(s)")
            continue
        codes = [(error["code"], run.case.message in error["detail"]) for error in job["errors"]]
        if codes != [("decode_error", True)]:
            problems.append(f"{name}: errors {job['errors']}")
        began = dt.datetime.fromisoformat(job["started_at"])
        ended = dt.datetime.fromisoformat(job["finished_at"])
        if (ended - began).total_seconds() >= run.case.max_seconds:
            problems.append(f"{name}: took {(ended - began).total_seconds():.2f} s")
        calls = [
            call
            for call in stand_in.calls
            if call.token == run.token
            and call.what == "customer"
            and began.timestamp() - 0.5 <= call.at <= ended.timestamp() + 0.5
        ]
        if len(calls) != 1:
            problems.append(f"{name}: {len(calls)} customer feed calls in the job's run")
        if written := await _customers_of(db, run.connection_id):
            problems.append(f"{name}: {written} customers were written")
    # Nothing but XML Direct requests: no DTD or entity was fetched on a document's behalf.
    assert {call.path for call in stand_in.calls} == {XML_DIRECT_PATH}
    assert problems == []
    # Ten documents parsed side by side, none of which may expand.
    assert growth() < MAX_RSS_GROWTH, f"RSS grew by {growth() / 2**20:.0f} MiB"
