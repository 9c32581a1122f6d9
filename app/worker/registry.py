"""Every tracked job the worker can run, keyed by name."""

from __future__ import annotations

from app.exports import jobs as export_jobs
from app.jobs.ping import PING
from app.jobs.runner import JobSpec
from app.payments import jobs as payment_jobs
from app.queue.names import JobName
from app.statistics import jobs as statistics_jobs
from app.sync import jobs as sync_jobs

JOB_SPECS: dict[JobName, JobSpec] = {
    spec.name: spec
    for spec in (
        PING,
        *sync_jobs.SPECS,
        *statistics_jobs.SPECS,
        *export_jobs.SPECS,
        *payment_jobs.SPECS,
    )
}
