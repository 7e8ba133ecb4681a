"""Outgoing work that is retried with backoff: texts (telephony) and webhook deliveries.

The database is the source of truth. Each row keeps its attempt count and `next_attempt_at`;
a job claims its row with a conditional update before acting, so a job run twice (or by two
workers) acts once; a periodic sweep (voiceapp/cron.py) queues the rows that are due again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.db.models import F, Q

# Seconds to wait after the 1st, 2nd, ... failed attempt. After the last, the row has failed
# for good (an operator may still retry it from the admin).
BACKOFF_SECONDS: tuple[int, ...] = (10, 30, 120, 600, 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1

# A row claimed longer ago than this, and still not settled, belongs to a worker that died
# (killed mid-request): it may be claimed again.
CLAIM_LEASE = timedelta(minutes=2)


def retry_at(attempts: int, now: datetime) -> datetime | None:
    """When to try again after `attempts` failed attempts; None when it is time to give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + timedelta(seconds=BACKOFF_SECONDS[max(attempts, 1) - 1])


def due(now: datetime, *, waiting: str, working: str) -> Q:
    """Rows that may be claimed at `now`: waiting and due, or abandoned by a dead worker."""
    return Q(status=waiting, next_attempt_at__lte=now) | Q(
        status=working, claimed_at__lt=now - CLAIM_LEASE
    )


def claim(model: type[models.Model], pk: int, now: datetime, *, waiting: str, working: str) -> bool:
    """Take the row for one attempt (status -> `working`, attempts + 1). False when another
    run has it, or it is not due: the caller then does nothing."""
    return bool(
        model.objects.filter(due(now, waiting=waiting, working=working), pk=pk).update(
            status=working, attempts=F("attempts") + 1, claimed_at=now, next_attempt_at=None
        )
    )
