"""arq's per-job chatter at debug, so a worker's INFO log is about work done.

arq logs two INFO lines for every job it runs (`→ id:function(…)` and `← id ● result`) and
one for each health beacon. With a tick every 2 s that is most of a worker's log, and none
of it carries the request or job id. The job runner logs each tracked run itself
(`job_started`, `job_finished`, with `job_id` and `request_id`), and each tick logs what it
did (`cron_tick`, at debug when it did nothing); so those arq lines are demoted to DEBUG.
Warnings (a job expired, retries exhausted) and start-up lines stay as they are.
"""

from __future__ import annotations

import logging

_ARQ_WORKER = "arq.worker"


class _DemoteJobLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        message = str(record.msg)
        # '%6.2fs → …', '%6.2fs ← …', '%6.2fs ↻ …' (arq's job lines), 'recording health: …'.
        if message.startswith("%6.2fs") or message.startswith("recording health"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(_ARQ_WORKER).isEnabledFor(logging.DEBUG)
        return True


def demote_arq_job_lines() -> None:
    """Install the filter on arq's worker logger (idempotent)."""
    logger = logging.getLogger(_ARQ_WORKER)
    if not any(isinstance(existing, _DemoteJobLines) for existing in logger.filters):
        logger.addFilter(_DemoteJobLines())
