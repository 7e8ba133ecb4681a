"""Reaching a call's live session from anywhere: a Channels group per call.

The media consumer holding the call joins `call.<id>` once its stream starts; a webhook (the
answering-machine verdict), a job or a staff action sends it a command, from any process when
the channel layer is Redis. The session acts on it (CallSession.control).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def call_group(call_id: int) -> str:
    """The Channels group of a call's live session (joined by the media consumer)."""
    return f"call.{call_id}"


async def send_control(call_id: int, action: str, **data: Any) -> None:
    """Deliver a command to the call's live session, in whichever process holds it
    (CallSession.control). Nothing happens when no session holds the call."""
    message = {"type": "call.control", "action": action, "data": data}
    await get_channel_layer().group_send(call_group(call_id), message)


def send_control_sync(call_id: int, action: str, **data: Any) -> None:
    """send_control for sync code (webhooks, jobs, the admin)."""
    async_to_sync(send_control)(call_id, action, **data)
