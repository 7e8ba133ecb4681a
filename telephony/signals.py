"""Signals other apps react to. Sent on commit, never before the data they announce is saved."""

from __future__ import annotations

from django.dispatch import Signal

# Twilio's answering-machine verdict for an outbound call was recorded (a CallEvent "amd").
# Sent once per call, after the commit, with `call_id` and `answered_by` (Twilio's AnsweredBy).
machine_answered = Signal()
