"""Background jobs: rq on Redis when REDIS_URL is set, otherwise a thread in this process
(so the demo runs with no Redis). Either way the job runs after the current transaction
commits, and a job id derived from the row keeps a job from being queued twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import django_rq
from django.conf import settings
from django.db import close_old_connections, transaction
from rq import Queue
from rq.cron import CronScheduler
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.utils import now as rq_now

from monitoring import metrics

log = logging.getLogger(__name__)


def enqueue(
    func: Callable[..., object], *args: object, job_id: str | None = None, queue: str = "default"
) -> None:
    """Run `func(*args)` in the background once the current transaction commits. With a
    `job_id`, a job still waiting or running under that id is not queued again."""
    if settings.REDIS_URL:

        def submit() -> None:
            rq_queue = django_rq.get_queue(queue)
            if job_id and _pending_in_rq(rq_queue, job_id):
                return
            rq_queue.enqueue(func, *args, job_id=job_id)

    else:

        def submit() -> None:
            with _inline_lock:
                if job_id in _inline_running:
                    return
                if job_id:
                    _inline_running.add(job_id)
            threading.Thread(
                target=_run_inline,
                args=(func, args, job_id),
                name=job_id or func.__name__,
                daemon=True,
            ).start()

    transaction.on_commit(submit)


def enqueue_each(
    func: Callable[..., object],
    arguments: list[tuple],
    *,
    job_ids: list[str],
    queue: str = "default",
) -> None:
    """Queue `func(*args)` for each of `arguments` once the current transaction commits, in one
    round trip to Redis (a dialer pass claims hundreds at once). Each `job_ids` entry must be
    new (derived from a claim), so no check for a job still pending under it is made."""
    if len(arguments) != len(job_ids):
        raise ValueError("one job id per arguments tuple")
    if not arguments:
        return
    if not settings.REDIS_URL:
        for args, job_id in zip(arguments, job_ids, strict=True):
            enqueue(func, *args, job_id=job_id, queue=queue)
        return

    def submit() -> None:
        rq_queue = django_rq.get_queue(queue)
        rq_queue.enqueue_many(
            [
                Queue.prepare_data(func, args, job_id=job_id)
                for args, job_id in zip(arguments, job_ids, strict=True)
            ]
        )

    transaction.on_commit(submit)


_inline_running: set[str] = set()
_inline_lock = threading.Lock()
_PENDING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def _pending_in_rq(queue, job_id: str) -> bool:
    """Whether a job with this id is still to run (a finished or failed one may run again)."""
    try:
        return Job.fetch(job_id, connection=queue.connection).get_status() in _PENDING
    except NoSuchJobError:
        return False


def _run_inline(func: Callable[..., object], args: tuple, job_id: str | None) -> None:
    try:
        func(*args)
    except Exception:  # a job's failure must not kill the web process; rq would log it too
        log.exception("inline job failed", extra={"job": func.__name__})
        metrics.job_failed(func.__name__)
    finally:
        close_old_connections()
        with _inline_lock:
            _inline_running.discard(job_id)


def start_schedule_in_process(
    config: str = "voiceapp.cron", *, stop: threading.Event | None = None
) -> threading.Thread:
    """Run the periodic jobs of `config` (a module of rq.cron.register calls) in a daemon thread
    of this process: the embedded mode's stand-in for `manage.py rqcron`, with rq's own
    schedule keeping (CronJob.should_run) and no Redis. Set `stop` to end it."""
    scheduler = CronScheduler(connection=None, name=f"in-process:{config}")  # type: ignore[arg-type]
    scheduler.load_config_from_file(config)
    thread = threading.Thread(
        target=_run_schedule,
        args=(scheduler, stop or threading.Event()),
        name="schedule",
        daemon=True,
    )
    thread.start()
    return thread


def _run_schedule(scheduler: CronScheduler, stop: threading.Event) -> None:
    while not stop.is_set():
        for job in scheduler.get_jobs():
            if job.should_run():
                job.set_enqueue_time(rq_now())
                _run_inline(job.func, job.args, None)
        stop.wait(max(0.1, scheduler.calculate_sleep_interval()))
