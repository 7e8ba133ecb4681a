"""Changing provider health: recording a check, and telling the owners about a change."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from health.checks import Result
from health.models import Notice, ProviderCheck, ProviderStatus
from voiceapp.models import Membership

log = logging.getLogger(__name__)

# Every 5 minutes, per provider: a month is under 9,000 rows each.
HISTORY_DAYS = 30


@transaction.atomic
def record_check(result: Result) -> ProviderCheck:
    """Store one probe's result and move the provider's state. A change from working (or
    never checked) to failing, or from failing to working, leaves a pending notice for
    `send_pending_notices`; the same state again changes nothing, so a job run twice, or two
    failures in a row, notify once."""
    target = result.target
    status, _ = ProviderStatus.objects.get_or_create(
        key=target.key,
        defaults={
            "label": target.label,
            "tenant_id": target.tenant_id,
            "twilio_account_id": target.twilio_account_id,
        },
    )
    status = ProviderStatus.objects.select_for_update().get(pk=status.pk)
    now = timezone.now()
    # A change that undoes one not yet told (a recovery before the failure's email went out,
    # or the other way round) cancels it: the owners' last news is still true.
    if not result.ok and status.ok is not False:
        status.failing_since = now
        status.pending_notice = (
            Notice.NONE if status.pending_notice == Notice.RECOVERED else Notice.FAILED
        )
    elif result.ok and status.ok is False:
        status.failing_since = None
        status.pending_notice = (
            Notice.NONE if status.pending_notice == Notice.FAILED else Notice.RECOVERED
        )
    status.ok = result.ok
    status.label = target.label
    status.tenant_id, status.twilio_account_id = target.tenant_id, target.twilio_account_id
    status.last_checked_at = now
    status.last_latency_ms = result.latency_ms
    status.last_error = result.error
    status.save()
    return ProviderCheck.objects.create(
        status=status,
        ok=result.ok,
        latency_ms=result.latency_ms,
        error=result.error,
        checked_at=now,
    )


def recipients(status: ProviderStatus) -> list[str]:
    """Who hears about a provider: its tenant's owners, or for a platform provider the
    superusers (they hold the keys). Users without an email address are skipped."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    if status.tenant_id is None:
        users = users.filter(is_superuser=True)
    else:
        users = users.filter(
            memberships__tenant_id=status.tenant_id,
            memberships__role=Membership.Role.OWNER,
        )
    return sorted(set(users.values_list("email", flat=True)))


def _message(status: ProviderStatus) -> tuple[str, str]:
    if status.pending_notice == Notice.FAILED:
        subject = f"{status.label} is failing"
        body = (
            f"The health check of {status.label} failed at {status.last_checked_at:%Y-%m-%d %H:%M} "
            f"UTC:\n\n{status.last_error}\n\nCalls fall back to other providers where an agent "
            "has one. You will get one more email when it works again."
        )
    else:
        subject = f"{status.label} works again"
        body = (
            f"The health check of {status.label} succeeded at "
            f"{status.last_checked_at:%Y-%m-%d %H:%M} UTC ({status.last_latency_ms} ms)."
        )
    return subject, body


def send_pending_notices() -> int:
    """Email each pending notice once and clear it; returns how many were sent. The row stays
    locked while its email goes out, so two runs never send the same notice; an email that
    fails leaves the notice pending for the next run."""
    sent = 0
    pending = ProviderStatus.objects.exclude(pending_notice=Notice.NONE).values_list(
        "pk", flat=True
    )
    for pk in list(pending):
        with transaction.atomic():
            status = (
                ProviderStatus.objects.select_for_update(skip_locked=True)
                .exclude(pending_notice=Notice.NONE)
                .filter(pk=pk)
                .first()
            )
            if status is None:
                continue
            to = recipients(status)
            if to:
                subject, body = _message(status)
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)
                sent += 1
            else:
                log.warning(
                    "health: nobody to tell that %s: %s", status.label, status.pending_notice
                )
            status.pending_notice = Notice.NONE
            status.save(update_fields=["pending_notice"])
    return sent


def forget_unconfigured(configured_keys: list[str]) -> int:
    """Delete the state and history of providers no longer configured (a key removed from the
    settings, a tenant deactivated), so no banner stays up for them; returns how many."""
    deleted, _ = ProviderStatus.objects.exclude(key__in=configured_keys).delete()
    return deleted


def prune_history() -> int:
    """Delete checks older than HISTORY_DAYS; returns how many."""
    cutoff = timezone.now() - timedelta(days=HISTORY_DAYS)
    deleted, _ = ProviderCheck.objects.filter(checked_at__lt=cutoff).delete()
    return deleted
