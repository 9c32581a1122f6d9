"""Job specs of the sync flows (the runner and worker know them by name)."""

from __future__ import annotations

from app.jobs.runner import JobSpec
from app.queue.names import JobName
from app.sync.catalogue import import_feed

CUSTOMERS_IMPORT = JobSpec(name=JobName.CUSTOMERS_IMPORT, handler=import_feed, max_attempts=3)
ARTICLES_IMPORT = JobSpec(name=JobName.ARTICLES_IMPORT, handler=import_feed, max_attempts=3)

SPECS = (CUSTOMERS_IMPORT, ARTICLES_IMPORT)
