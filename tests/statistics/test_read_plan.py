"""The read planner: which Directo calls serve one database's clients, and a property test
that the planned (shared, per-code or whole) reads tally exactly what each client's own
read tallies — over random documents served by the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.config import Settings
from app.db.models import Connection
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.sandbox import SandboxState
from app.statistics.compute import MonthlyTally, feeds_for
from app.statistics.directo_reads import read_statistics_for_sources
from app.statistics.fields import FIELD_KEYS, Scope
from app.statistics.import_days import last_day
from app.statistics.read_plan import FeedRead, month_spans, plan_reads
from app.statistics.sources import ClientSource
from tests.support.documents import CODES, Documents, build_database, documents

KEYS = sorted(FIELD_KEYS)
JAN, DEC = dt.date(2025, 1, 1), dt.date(2025, 12, 1)
_COMPANY = Connection()


def linked(client_id: str, code: str) -> ClientSource:
    return ClientSource(client_id, _COMPANY, Scope.LINKED_CUSTOMER, code, "EE")


def own(client_id: str) -> ClientSource:
    return ClientSource(client_id, Connection(), Scope.OWN_CONNECTION, None, "EE")


def test_spans_cut_the_range_into_runs_of_months() -> None:
    assert month_spans(JAN, DEC, 3) == [
        (dt.date(2025, 1, 1), dt.date(2025, 3, 1)),
        (dt.date(2025, 4, 1), dt.date(2025, 6, 1)),
        (dt.date(2025, 7, 1), dt.date(2025, 9, 1)),
        (dt.date(2025, 10, 1), dt.date(2025, 12, 1)),
    ]
    assert month_spans(JAN, dt.date(2025, 5, 1), 2)[-1] == (dt.date(2025, 5, 1),) * 2
    with pytest.raises(ValueError, match="at least 1"):
        month_spans(JAN, DEC, 0)


def test_two_hundred_linked_clients_share_one_read_per_quarter_and_feed() -> None:
    sources = [linked(f"c{n}", f"K{n:06d}") for n in range(200)]
    reads = plan_reads(sources, first=JAN, last=DEC, keys=KEYS)
    assert len(reads) == 8
    assert {(read.feed, read.customercode) for read in reads} == {
        ("invoice", None),
        ("receipt", None),
    }
    assert all(len(read.client_ids) == 200 for read in reads)
    # One month (the scheduled import): one call per feed.
    assert len(plan_reads(sources, first=DEC, last=DEC, keys=KEYS)) == 2


def test_one_linked_client_keeps_its_own_filtered_read_of_the_whole_range() -> None:
    reads = plan_reads([linked("solo", "K000001")], first=JAN, last=DEC, keys=KEYS)
    assert reads == [
        FeedRead("invoice", JAN, DEC, "K000001", ("solo",)),
        FeedRead("receipt", JAN, DEC, "K000001", ("solo",)),
    ]
    assert reads[0].date2 == dt.date(2025, 12, 31)


def test_few_codes_are_read_per_code_and_clients_of_one_code_share_its_read() -> None:
    sources = [linked("a", "K1"), linked("b", "K1"), linked("c", "K2")]
    reads = plan_reads(sources, first=DEC, last=DEC, keys=KEYS, per_code_reads_up_to=2)
    assert [(read.feed, read.customercode, read.client_ids) for read in reads] == [
        ("invoice", "K1", ("a", "b")),
        ("invoice", "K2", ("c",)),
        ("receipt", "K1", ("a", "b")),
        ("receipt", "K2", ("c",)),
    ]
    # Per code too while that is no more calls than the spans: 3 codes, 12 monthly spans.
    monthly = plan_reads(sources, first=JAN, last=DEC, keys=KEYS, months_per_read=1,
                         per_code_reads_up_to=0)  # fmt: skip
    assert len(monthly) == 4
    assert all(read.customercode for read in monthly)


def test_an_own_database_is_read_whole_once_per_feed_it_needs() -> None:
    reads = plan_reads([own("mine")], first=JAN, last=DEC, keys=KEYS)
    assert [(read.feed, read.first, read.last, read.customercode) for read in reads] == [
        (feed, JAN, DEC, None) for feed in ("invoice", "purchase", "receipt", "transaction")
    ]
    assert plan_reads([own("mine")], first=JAN, last=DEC, keys=["sales_invoices"]) == [
        FeedRead("invoice", JAN, DEC, None, ("mine",))
    ]


# -- the planned reads equal per-client reads ------------------------------------------------

_MONTHS = [dt.date(2024, 12, 1), *(dt.date(2025, month, 1) for month in range(1, 8))]


@st.composite
def groups(draw: st.DrawFn) -> tuple[list[ClientSource], dt.date, dt.date]:
    """Clients of one database: linked to random codes (several to one code, some codes to
    none), now and then one taking the whole database; and a range of months."""
    codes = draw(st.lists(st.sampled_from(CODES), min_size=0, max_size=12))
    sources = [linked(f"client-{n}", code) for n, code in enumerate(codes)]
    if (draw(st.booleans()) and draw(st.booleans())) or not sources:
        sources.append(own("whole"))
    first = draw(st.sampled_from(_MONTHS))
    last = draw(st.sampled_from([month for month in _MONTHS if month >= first]))
    return sources, first, last


@st.composite
def crowded_groups(draw: st.DrawFn) -> tuple[list[ClientSource], dt.date, dt.date]:
    """Every code linked (some twice, with a code of no document's among them): more codes
    than spans, so the database is read shared, span by span."""
    extra = draw(st.lists(st.sampled_from(CODES), max_size=4))
    codes = [*CODES, *extra, "NOBODY"]
    sources = [linked(f"client-{n}", code) for n, code in enumerate(codes)]
    first = draw(st.sampled_from(_MONTHS))
    last = draw(st.sampled_from([month for month in _MONTHS if month >= first]))
    return sources, first, last


async def _read_alone(
    directo: DirectoClient,
    creds: DirectoCredentials,
    source: ClientSource,
    first: dt.date,
    last: dt.date,
) -> MonthlyTally:
    """The reference: the per-client read as it was before the planner — each feed the
    client needs, filtered to its customer code, fed straight into its tally."""
    tally = MonthlyTally(
        scope=source.scope, first=first, last=last, customer_code=source.customer_code
    )
    date1, date2, code = first, last_day(last), source.customer_code
    for feed in feeds_for(KEYS, source.scope):
        batches: AsyncGenerator[list[Any], None]
        if feed == "invoice":
            batches = directo.iter_invoices(creds, date1=date1, date2=date2, customercode=code)
            add: Callable[[list[Any]], None] = tally.add_invoices
        elif feed == "receipt":
            batches = directo.iter_receipts(creds, date1=date1, date2=date2, customercode=code)
            add = tally.add_receipts
        elif feed == "purchase":
            batches = directo.iter_purchases(creds, date1=date1, date2=date2)
            add = tally.add_purchases
        else:
            batches = directo.iter_transactions(creds, date1=date1, date2=date2)
            add = tally.add_transactions
        async with contextlib.aclosing(batches):
            async for batch in batches:
                add(batch)
    return tally


async def _compare(
    settings: Settings,
    sandbox: SandboxState,
    creds: DirectoCredentials,
    sources: Sequence[ClientSource],
    *,
    first: dt.date,
    last: dt.date,
    months_per_read: int,
    per_code_reads_up_to: int,
) -> None:
    async with httpx.AsyncClient() as http:
        directo = DirectoClient(http, settings.directo)
        limiter = asyncio.Semaphore(4)
        alone = {
            source.client_id: (await _read_alone(directo, creds, source, first, last)).values(KEYS)
            for source in sources
        }
        sandbox.clear_requests()
        planned = await read_statistics_for_sources(
            directo, creds, sources, first=first, last=last, keys=KEYS, limiter=limiter,
            months_per_read=months_per_read, per_code_reads_up_to=per_code_reads_up_to,
        )  # fmt: skip
    assert {client: tally.values(KEYS) for client, tally in planned.items()} == alone
    expected_calls = plan_reads(
        sources, first=first, last=last, keys=KEYS, months_per_read=months_per_read,
        per_code_reads_up_to=per_code_reads_up_to,
    )  # fmt: skip
    assert len([entry for entry in sandbox.requests if entry.op == "get"]) == len(expected_calls)


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    drawn=documents,
    group=groups(),
    months_per_read=st.integers(1, 4),
    per_code_reads_up_to=st.integers(0, 3),
    seed=st.integers(1, 50),
)
@pytest.mark.slow
def test_planned_reads_tally_exactly_what_each_clients_own_read_does(
    settings: Settings,
    sandbox: SandboxState,
    drawn: Documents,
    group: tuple[list[ClientSource], dt.date, dt.date],
    months_per_read: int,
    per_code_reads_up_to: int,
    seed: int,
) -> None:
    sources, first, last = group
    creds = build_database(sandbox, "planner", drawn, seed=seed)
    asyncio.run(
        _compare(
            settings,
            sandbox,
            creds,
            sources,
            first=first,
            last=last,
            months_per_read=months_per_read,
            per_code_reads_up_to=per_code_reads_up_to,
        )
    )


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.slow
@given(drawn=documents, group=crowded_groups(), months_per_read=st.integers(1, 3))
def test_shared_reads_split_in_spans_tally_exactly_what_each_clients_own_read_does(
    settings: Settings,
    sandbox: SandboxState,
    drawn: Documents,
    group: tuple[list[ClientSource], dt.date, dt.date],
    months_per_read: int,
) -> None:
    sources, first, last = group
    creds = build_database(sandbox, "planner", drawn)
    reads = plan_reads(sources, first=first, last=last, keys=KEYS, months_per_read=months_per_read)
    assert all(read.customercode is None for read in reads)
    asyncio.run(
        _compare(
            settings,
            sandbox,
            creds,
            sources,
            first=first,
            last=last,
            months_per_read=months_per_read,
            per_code_reads_up_to=0,
        )
    )
