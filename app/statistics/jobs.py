"""Job specs of the statistics flows (the runner and worker know them by name)."""

from __future__ import annotations

from app.jobs.runner import JobSpec
from app.queue.names import JobName
from app.statistics.monthly_import import import_failed, import_month
from app.statistics.reload_job import reload_failed, run_reload

STATISTICS_IMPORT = JobSpec(
    name=JobName.STATISTICS_IMPORT, handler=import_month, max_attempts=5, on_failure=import_failed
)
STATISTICS_RELOAD = JobSpec(
    name=JobName.STATISTICS_RELOAD, handler=run_reload, max_attempts=3, on_failure=reload_failed
)

SPECS = (STATISTICS_IMPORT, STATISTICS_RELOAD)
