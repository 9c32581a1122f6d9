"""A worker survives a Redis restart: jobs queued after Redis returns still run."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.db.models import Job, JobStatus
from app.db.repositories import jobs as job_repo
from app.queue.arq_adapter import open_queue
from app.queue.names import JobName
from app.resources import Resources
from app.worker.settings import run_until_stopped
from tests.conftest import make_settings
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A Redis server of the test's own, which the test may kill and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._server: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._server = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )

    async def answers(self) -> bool:
        client = Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            return bool(await client.ping())
        except (RedisError, OSError):
            return False
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self._server is not None:
            self._server.kill()
            self._server.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    await wait_until(redis.answers, what="the private Redis to answer")
    yield redis
    redis.stop()


async def wait_for_status(db: Resources, job_id: uuid.UUID, status: JobStatus) -> None:
    async def reached() -> bool:
        async with db.sessionmaker() as session:
            job = await session.get(Job, job_id)
            return job is not None and job.status == status

    await wait_until(reached, what=f"job {job_id} to be {status.value}", within=20)


async def ping_job(db: Resources) -> uuid.UUID:
    async with db.sessionmaker() as session, session.begin():
        return (await job_repo.create_job(session, kind=JobName.PING.value)).id


@pytest.mark.slow
async def test_worker_keeps_working_across_a_redis_restart(
    db: Resources, private_redis: PrivateRedis
) -> None:
    queue_name = f"resilience-{uuid.uuid4().hex[:6]}"
    settings = make_settings(redis={"url": private_redis.url, "queue_name": queue_name})
    worker = asyncio.create_task(run_until_stopped(settings, handle_signals=False))
    queue = open_queue(settings.redis)
    try:
        before = await ping_job(db)
        await queue.enqueue(JobName.PING, before)
        await wait_for_status(db, before, JobStatus.SUCCEEDED)

        private_redis.restart()  # Redis dies and comes back empty
        await wait_until(private_redis.answers, what="Redis to come back")

        after = await ping_job(db)
        for _ in range(50):  # the API's enqueue would also retry via the watchdog
            with contextlib.suppress(Exception):
                await queue.enqueue(JobName.PING, after)
                break
            await asyncio.sleep(0.2)
        await wait_for_status(db, after, JobStatus.SUCCEEDED)
        assert not worker.done()
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await queue.close()
