"""Signals other apps react to. Sent on commit, never before the data they announce is saved."""

from __future__ import annotations

from django.dispatch import Signal

# A call reached its end: its final status and outcome are saved. Sent once per call (by
# calls.actions.finish_call, when it gives the call its outcome), after the transaction
# commits, with `call_id`, `outcome`, `status` and `direction` (a receiver for one kind of call
# need not read the call to know it is not its kind).
call_ended = Signal()
