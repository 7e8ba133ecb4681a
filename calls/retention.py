"""Recording retention: a tenant may keep call recordings for a number of days, then they go.

`Tenant.recording_retention_days` (empty: kept for good). The scheduler (voiceapp/cron.py) runs
`delete_expired_recordings` every RECORDING_RETENTION_INTERVAL_SECONDS; each recording past its
tenant's policy is deleted from storage (local files or the bucket), the call forgets it, and a
"recording_purged" event on the call says when and under which policy. Safe to run twice and in
several workers at once: each call is claimed with select_for_update(skip_locked=True) and
checked again under the lock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from calls.models import Call, CallEvent
from voiceapp.models import Tenant

log = logging.getLogger(__name__)

# A plain kind, not one of CallEvent.Kind's choices (a new choice needs a calls migration), and
# at most the column's 16 characters ("recording_deleted" is 17).
RECORDING_PURGED = "recording_purged"
BATCH = 200


class RetentionIncomplete(Exception):
    """Some recordings could not be deleted this time (the storage refused or was away); they
    are tried again on the next run. Raised after every other recording was dealt with, so the
    job shows as failed."""


def delete_recording(call_id: int, *, policy_days: int, now: datetime | None = None) -> bool:
    """Delete the recording of call `call_id` under a retention policy of `policy_days`: the
    file from storage, the reference from the call, and a `recording_purged` event, in one
    transaction. Returns False when there was nothing to do (no recording, no such call, or
    another run holds it).

    The file goes first, under the row's lock: if the storage refuses, nothing changes and the
    next run tries again; if the commit fails after it, the call still names the file, and the
    next run deletes it again (deleting a missing file is not an error) and records it. So the
    bytes never outlive a record that says they are gone.
    """
    now = now or timezone.now()
    with transaction.atomic():
        call = (
            Call.objects.select_for_update(skip_locked=True)
            .filter(pk=call_id)
            .exclude(recording="")
            .first()
        )
        if call is None:
            return False
        name = call.recording.name
        call.recording.storage.delete(name)
        call.recording = ""
        call.save(update_fields=["recording", "updated_at"])
        CallEvent.objects.create(
            call=call,
            kind=RECORDING_PURGED,
            at=now,
            data={"reason": "retention", "policy_days": policy_days, "file": name},
        )
    return True


def expired_recordings(tenant_id: int, policy_days: int, now: datetime):
    """The calls of a tenant whose recording is past a policy of `policy_days` at `now` (by the
    call's start: the tenant-and-created_at index answers it)."""
    return (
        Call.objects.filter(tenant_id=tenant_id, created_at__lt=now - timedelta(days=policy_days))
        .exclude(recording="")
        .order_by("pk")
    )


def delete_expired_recordings(now: datetime | None = None) -> int:
    """The periodic job: delete every recording past its tenant's retention policy. Returns how
    many were deleted; raises RetentionIncomplete (after the rest) if some could not be."""
    now = now or timezone.now()
    deleted = failed = 0
    policies = Tenant.objects.filter(recording_retention_days__isnull=False).values_list(
        "pk", "recording_retention_days"
    )
    for tenant_id, days in policies:
        after = 0  # walk by id, so a recording that fails is not met again in this run
        while ids := list(
            expired_recordings(tenant_id, days, now)
            .filter(pk__gt=after)
            .values_list("pk", flat=True)[:BATCH]
        ):
            after = ids[-1]
            for call_id in ids:
                try:
                    deleted += delete_recording(call_id, policy_days=days, now=now)
                except Exception:
                    # One unreachable file must not keep a tenant's other recordings past their
                    # policy: log it, go on, and fail the job at the end (retried next run).
                    failed += 1
                    log.exception("could not delete the recording of call %s", call_id)
    if deleted:
        log.info("retention deleted %d recordings", deleted)
    if failed:
        raise RetentionIncomplete(f"{failed} recordings could not be deleted; retried next run")
    return deleted
