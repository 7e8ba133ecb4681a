"""The browser's test call and admission control: it costs this process what a phone call
does, so it counts against the process's cap; it holds no carrier line, so a tenant with every
line busy can still try its agent."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from calls import lines
from calls.models import Call, CallEvent, CallStatus
from webcalls.tests.test_socket import call_socket, kind, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def phone_caller_on_the_only_line(world) -> None:
    world.tenant.max_concurrent_calls = 1
    world.tenant.save()
    assert lines.take(world.call, 1)  # world A's ringing phone call holds the tenant's line
    assert not lines.take(
        Call.objects.create(
            tenant=world.tenant,
            agent=world.agent,
            direction=Call.Direction.INBOUND,
            from_number="+14155550000",
            to_number=world.number.number,
            twilio_call_sid="CA" + "8" * 32,
            status=CallStatus.RINGING,
        ),
        1,
    )


async def test_a_test_call_counts_against_the_process_not_the_tenants_lines(
    world_a, live_agent, line_store, settings
):
    settings.CALLS_PER_PROCESS_MAX = 1
    await phone_caller_on_the_only_line(world_a)
    async with call_socket(world_a.staff, live_agent.pk) as (first, connected, _):
        assert connected
        await receive_until(first, lambda m: kind(m) == "mark")  # greeted: every line busy
        async with call_socket(world_a.staff, live_agent.pk) as (second, connected, _):
            assert connected  # the page is told why, not refused a socket
            seen = await receive_until(second, lambda m: kind(m) == "closed")
            opened = seen[0]
            [ended] = [m for m in seen if kind(m) == "ended"]
            assert ended["outcome"] == "lines_busy" and "capacity" in ended["reason"]
    refused = await Call.objects.aget(pk=opened["call_id"])
    assert refused.status == CallStatus.COMPLETED and refused.outcome == "lines_busy"
    event = await CallEvent.objects.aget(call=refused, kind=CallEvent.Kind.ENDED)
    assert event.data["refused"] == "process_cap"
