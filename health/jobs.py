"""The periodic provider check (voiceapp.cron, every HEALTH_CHECK_SECONDS)."""

from __future__ import annotations

from django.conf import settings

from health import actions
from health.checks import configured_targets, probe_all


def check_providers() -> int:
    """Probe every configured provider, record each result, email the changes. Safe to run
    twice: a state that did not change notifies nobody. Returns how many were checked."""
    targets = configured_targets()
    results = probe_all(targets, float(settings.HEALTH_CHECK_TIMEOUT_SECONDS))
    actions.forget_unconfigured([target.key for target in targets])
    for result in results:
        actions.record_check(result)
    actions.send_pending_notices()
    actions.prune_history()
    return len(results)
