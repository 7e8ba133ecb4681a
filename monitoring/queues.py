"""Queue depths and failed jobs, read from Redis at scrape time: rq keeps them there, shared by
every worker, so each scrape sees the whole fleet's figures (nothing to sum across processes)."""

from __future__ import annotations

import logging

import django_rq
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError
from rq import Worker

log = logging.getLogger(__name__)


class QueueCollector:
    """A prometheus-client collector for the rq queues of settings.RQ_QUEUES."""

    def collect(self):
        depth = GaugeMetricFamily(
            "voice_queue_jobs", "Jobs waiting in an rq queue.", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "voice_queue_failed_jobs", "Jobs in an rq queue's failed registry.", labels=["queue"]
        )
        workers = GaugeMetricFamily("voice_queue_workers", "rq workers alive.", labels=[])
        if not settings.REDIS_URL:
            return  # jobs run in-process: no queue to measure
        try:
            connection = None
            for name in settings.RQ_QUEUES:
                queue = django_rq.get_queue(name)
                connection = queue.connection
                depth.add_metric([name], queue.count)
                failed.add_metric([name], queue.failed_job_registry.count)
            if connection is not None:
                workers.add_metric([], Worker.count(connection=connection))
        except RedisError as exc:  # a scrape must still answer; the gap in the series says it
            log.warning("queue depths unavailable: %s", exc)
            return
        yield depth
        yield failed
        yield workers
