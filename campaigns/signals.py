"""Signals other parts react to. Sent on commit, never before the data they announce is saved."""

from __future__ import annotations

from django.dispatch import Signal

# A campaign changed status (started, paused, resumed, cancelled, completed). Sent once per
# change after the commit, with `campaign_id`, `tenant_id`, `status`, `previous`, `by` (a user
# name, "dialer", a command) and `reason`.
campaign_changed = Signal()

# An attempt reached its result. Sent after the commit with `attempt_id`, `campaign_id`,
# `tenant_id`, `result` and `next_attempt_id` (None when no retry was scheduled).
attempt_finished = Signal()
