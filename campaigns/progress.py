"""A campaign's progress, counted from its attempts: for its admin page, the page's JSON feed
and `manage.py campaign_status`."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Min, Q

from campaigns.models import IN_FLIGHT, AttemptResult, AttemptStatus, Campaign

COLUMNS = [
    ("contacts", "contacts"),
    ("dialed", "dialed"),
    ("answered", "answered"),
    ("human", "human"),
    ("machine", "machine"),
    ("no_answer", "no answer"),
    ("busy", "busy"),
    ("failed", "failed"),
    ("do_not_call", "DNC"),
    ("in_flight", "in flight"),
    ("remaining", "remaining"),
]


def progress(campaign: Campaign) -> dict[str, Any]:
    """Counts (see COLUMNS), the campaign's status and reason, and the next attempt times."""
    r = AttemptResult
    counts = campaign.attempts.aggregate(
        dialed=Count("pk", filter=Q(call__isnull=False)),
        answered=Count("pk", filter=Q(call__answered_at__isnull=False)),
        human=Count("pk", filter=Q(result=r.HUMAN)),
        machine=Count("pk", filter=Q(result=r.VOICEMAIL)),
        no_answer=Count("pk", filter=Q(result=r.NO_ANSWER)),
        busy=Count("pk", filter=Q(result=r.BUSY)),
        failed=Count("pk", filter=Q(result__in=[r.FAILED, r.LOST])),
        do_not_call=Count("pk", filter=Q(result=r.DO_NOT_CALL)),
        in_flight=Count("pk", filter=Q(status__in=IN_FLIGHT)),
        remaining=Count("pk", filter=Q(status=AttemptStatus.SCHEDULED)),
        next_at=Min("due_at", filter=Q(status=AttemptStatus.SCHEDULED)),
    )
    counts["contacts"] = campaign.contact_list.contacts.count()
    upcoming = (
        campaign.attempts.filter(status=AttemptStatus.SCHEDULED)
        .select_related("contact")
        .order_by("due_at", "pk")[:5]
    )
    next_at = counts.pop("next_at")
    return {
        "status": campaign.status,
        "status_display": campaign.get_status_display(),
        "status_reason": campaign.status_reason,
        "counts": counts,
        "next_attempt_at": next_at.isoformat() if next_at else None,
        "next_attempts": [
            {"contact": str(a.contact), "number": a.number, "due_at": a.due_at.isoformat()}
            for a in upcoming
        ],
    }
