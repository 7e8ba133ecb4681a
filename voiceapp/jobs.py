"""Background jobs: rq on Redis when REDIS_URL is set, otherwise a thread in this process
(so the demo runs with no Redis). Either way the job runs after the current transaction
commits, and a job id derived from the row keeps a job from being queued twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, transaction

log = logging.getLogger(__name__)


def enqueue(
    func: Callable[..., object], *args: object, job_id: str | None = None, queue: str = "default"
) -> None:
    if settings.REDIS_URL:
        import django_rq

        def submit() -> None:
            django_rq.get_queue(queue).enqueue(func, *args, job_id=job_id)

    else:

        def submit() -> None:
            threading.Thread(
                target=_run_inline, args=(func, args), name=job_id or func.__name__, daemon=True
            ).start()

    transaction.on_commit(submit)


def _run_inline(func: Callable[..., object], args: tuple) -> None:
    try:
        func(*args)
    except Exception:  # a job's failure must not kill the web process; rq would log it too
        log.exception("inline job failed", extra={"job": func.__name__})
    finally:
        close_old_connections()
