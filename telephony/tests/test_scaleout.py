"""Two web processes behind HAProxy (voiceapp.scaleout, as scripts/scaleout starts them), with an
rq worker and the cron, on this run's PostgreSQL and Redis: calls placed through the balancer,
and what one process handles reaches a call (or a board) held by the other, through Redis.

Which process holds a call: HAProxy names it in the stream handshake's `X-Served-By`. The
webhook or staff request that must cross over is then sent to the other process directly."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.management.base import CommandError
from twilio.request_validator import RequestValidator

from calls.actions import open_outbound_call
from calls.models import Call, CallEvent, CallStatus, Turn
from orders.models import Order
from orders.tests.test_boards import session_cookie
from orders.tests.test_ordering_call import ordering_agent
from telephony.simulator import SimulatedCaller, speech
from telephony.tests.fake_twilio import FakeTwilioRest
from telephony.tests.test_end_to_end import caller_for, offline_agent, server_env
from voiceapp.management.commands.scaleout import check_shared_state
from voiceapp.scaleout import SERVED_BY, ScaleOut

pytestmark = pytest.mark.django_db(transaction=True)

CALLEE = "+14155550188"


@pytest.fixture
def scaleout(transactional_db, twilio_rest, tmp_path):
    env = {**server_env(twilio_rest), "TEST_CHANNEL_LAYER": "redis"}
    with ScaleOut(env=env, log_dir=tmp_path, processes=2, workers=1) as setup:
        time.sleep(4)  # the speech models load in the background (~3 s)
        yield setup


def all_running(setup: ScaleOut) -> None:
    assert not setup.dead(), {name: setup.tail(name) for name in setup.dead()}


async def held_by(setup: ScaleOut, caller: SimulatedCaller, task: asyncio.Task) -> str:
    """The web process holding the call, once its stream is claimed and in progress."""
    deadline = time.monotonic() + 30
    while True:
        assert not task.done(), (task.result(), setup.tail("web1"), setup.tail("web2"))
        call = await Call.objects.filter(twilio_call_sid=caller.call_sid).afirst()
        if caller.report and call and call.stream_sid and call.status == CallStatus.IN_PROGRESS:
            return caller.report.stream_headers[SERVED_BY.lower()]
        assert time.monotonic() < deadline, "the call never went live"
        await asyncio.sleep(0.1)


def other_than(setup: ScaleOut, name: str) -> str:
    [other] = [w.url for w in setup.web if w.name != name]
    return other


async def final_call(call_sid: str) -> Call:
    deadline = time.monotonic() + 30
    while not (call := await Call.objects.aget(twilio_call_sid=call_sid)).is_final:
        assert time.monotonic() < deadline, call.status
        await asyncio.sleep(0.2)
    return call


def quiet(seconds: float) -> bytes:
    return b"\xff" * (int(seconds * 8000) // 160 * 160)


async def served_by(setup: ScaleOut, requests: int = 4) -> set[str]:
    served = set()
    async with httpx.AsyncClient() as http:
        for _ in range(requests):  # a new connection each, as Twilio's webhooks come
            response = await http.get(setup.url + "/healthz", headers={"Connection": "close"})
            assert response.status_code == 200
            served.add(response.headers[SERVED_BY])
    return served


async def test_the_set_up_balances_checks_health_and_refuses_the_embedded_default(scaleout):
    assert await served_by(scaleout) == {"web1", "web2"}
    assert scaleout.backend_status() == {"web1": "UP", "web2": "UP"}
    all_running(scaleout)

    # A web process gone: HAProxy's own checks take it out, and nobody is sent to it.
    scaleout.by_name("web2").process.terminate()
    deadline = time.monotonic() + 20
    while scaleout.backend_status()["web2"] != "DOWN":
        assert time.monotonic() < deadline, scaleout.tail("haproxy")
        await asyncio.sleep(0.2)
    assert await served_by(scaleout, 6) == {"web1"}

    # The test process itself runs on the in-memory layer: each process would be an island.
    with pytest.raises(CommandError, match="needs Redis"):
        await database_sync_to_async(check_shared_state)()


@pytest.mark.timeout(240)
async def test_a_staff_hang_up_and_a_machine_verdict_reach_the_call_held_by_the_other_process(
    world_a, scaleout
):
    await database_sync_to_async(offline_agent)(world_a)
    FakeTwilioRest.requests.clear()

    # An inbound call through the balancer; staff hang it up on the other process's admin.
    caller = caller_for(world_a, scaleout.url)
    task = asyncio.create_task(caller.run([quiet(40)]))
    holder = await held_by(scaleout, caller, task)
    cookie = await database_sync_to_async(session_cookie)(world_a.staff)
    csrf = secrets.token_hex(16)  # 32 characters: Django's unmasked secret, as cookie and field
    call = await Call.objects.aget(twilio_call_sid=caller.call_sid)
    admin = other_than(scaleout, holder) + "/admin/calls/call/"
    headers = {"Cookie": f"{cookie}; {settings.CSRF_COOKIE_NAME}={csrf}"}
    async with httpx.AsyncClient(headers=headers) as http:
        action = {"action": "hang_up", "_selected_action": call.pk, "csrfmiddlewaretoken": csrf}
        response = await http.post(admin, data=action)
    assert response.status_code == 302 and response.headers["location"] == "/admin/calls/call/"
    report = await asyncio.wait_for(task, 30)
    assert report.closed_by_server
    call = await final_call(caller.call_sid)
    assert call.status == CallStatus.COMPLETED and call.outcome == "staff_hung_up"
    controls = CallEvent.objects.filter(call=call, kind="control").values_list("data", flat=True)
    assert [c["action"] async for c in controls] == ["hang_up"]

    # An outbound call answered by a machine; the verdict lands on the other process.
    agent = world_a.agent
    agent.outbound_first_speaker = "machine_verdict"
    agent.voicemail_message = "Please call us back."
    await agent.asave(update_fields=["outbound_first_speaker", "voicemail_message"])
    outbound = await database_sync_to_async(open_outbound_call)(
        agent=agent, to_number=CALLEE, from_number=world_a.number.number
    )
    callee = SimulatedCaller(
        server=scaleout.url,
        public_base_url=settings.PUBLIC_BASE_URL,
        auth_token="token-a",
        account_sid=world_a.account.account_sid,
        to_number=CALLEE,
        from_number=world_a.number.number,
        answered_call_id=outbound.pk,
    )
    # As the dial job leaves it: Twilio took the call and rings the callee.
    await Call.objects.filter(pk=outbound.pk).aupdate(
        twilio_call_sid=callee.call_sid,
        twilio_account_sid=world_a.account.account_sid,
        status=CallStatus.RINGING,
    )
    task = asyncio.create_task(callee.run([]))
    holder = await held_by(scaleout, callee, task)
    verdict = {
        "AccountSid": world_a.account.account_sid,
        "CallSid": callee.call_sid,
        "AnsweredBy": "machine_end_beep",
        "MachineDetectionDuration": "2400",
    }
    path = "/telephony/twilio/amd/"
    signature = RequestValidator("token-a").compute_signature(
        settings.PUBLIC_BASE_URL + path, verdict
    )
    async with httpx.AsyncClient() as http:
        response = await http.post(
            other_than(scaleout, holder) + path,
            data=verdict,
            headers={"X-Twilio-Signature": signature},
        )
    assert response.status_code == 200
    report = await asyncio.wait_for(task, 60)
    assert report.closed_by_server and report.greeting.first_frame_at is not None
    call = await final_call(callee.call_sid)
    assert call.outcome == "voicemail_left"
    said = [t.text async for t in Turn.objects.filter(call=call, speaker="agent")]
    assert said == ["Please call us back."]
    all_running(scaleout)

    # Both hang-ups are REST requests made by the rq worker of the set-up.
    paths = {
        f"/2010-04-01/Accounts/{world_a.account.account_sid}/Calls/{sid}.json"
        for sid in (caller.call_sid, callee.call_sid)
    }
    deadline = time.monotonic() + 30
    while not paths <= {p for p, _ in FakeTwilioRest.requests}:
        assert time.monotonic() < deadline, scaleout.tail("worker1")
        await asyncio.sleep(0.2)


async def board_messages(url: str, cookie: str, into: list[dict]) -> None:
    ws_url = "ws" + url[len("http") :] + "/ws/orders/a/"
    headers = {"Origin": "http://127.0.0.1", "Cookie": cookie}
    async with websockets.connect(ws_url, additional_headers=headers) as ws:
        async for message in ws:
            into.append(json.loads(message))


@pytest.mark.timeout(420)
async def test_a_board_on_each_process_sees_an_order_placed_through_a_call_held_by_one(
    world_a, scaleout
):
    await database_sync_to_async(ordering_agent)(world_a)
    cookie = await database_sync_to_async(session_cookie)(world_a.staff)
    seen: dict[str, list[dict]] = {w.name: [] for w in scaleout.web}
    boards = [
        asyncio.create_task(board_messages(w.url, cookie, seen[w.name])) for w in scaleout.web
    ]
    try:
        deadline = time.monotonic() + 20
        while not all(seen.values()):  # each board has its snapshot: it is listening
            assert time.monotonic() < deadline and not any(b.done() for b in boards), boards
            await asyncio.sleep(0.1)
        assert all(s[0]["type"] == "snapshot" and s[0]["orders"] == [] for s in seen.values())

        caller = caller_for(world_a, scaleout.url)
        caller.reply_timeout = 40  # whisper on a loaded machine
        lines = [
            "A large taro milk tea with egg pudding, half sweet.",
            "Yes.",  # add it
            "That's all.",
            "Yes.",  # text me at this number
            "Yes.",  # place the order
            "Yes.",  # spare: a short word the recogniser missed is asked for again
            "Goodbye.",
        ]
        task = asyncio.create_task(caller.run([speech(line) for line in lines]))
        holder = await held_by(scaleout, caller, task)
        await asyncio.wait_for(task, 300)
        order = await Order.objects.filter(call__twilio_call_sid=caller.call_sid).afirst()
        turns = Turn.objects.filter(call__twilio_call_sid=caller.call_sid).order_by("index")
        assert order is not None, "\n".join([f"{t.speaker}: {t.text}" async for t in turns])

        def shown(name: str) -> bool:
            return any(m.get("order", {}).get("number") == order.number for m in seen[name])

        deadline = time.monotonic() + 10
        while not all(shown(w.name) for w in scaleout.web):
            assert time.monotonic() < deadline, (holder, seen)
            await asyncio.sleep(0.1)
        all_running(scaleout)
    finally:
        for board in boards:
            board.cancel()
        await asyncio.gather(*boards, return_exceptions=True)
