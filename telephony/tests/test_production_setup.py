"""The production set-up carries whole calls: Daphne on the Redis channel layer, PostgreSQL, and
a real rq worker (started beside it, as the README says) that takes the hang-up job.

The first probe of this set-up found every call dying about 5 s after its stream started: the
consumer's channel-layer receive (a 5 s BZPOPMIN) raced redis-py's 5 s default read timeout.
So the call here lasts longer than a minute, with long quiet stretches in it.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from channels.db import database_sync_to_async

from calls.models import Call, CallEvent, Turn
from telephony.simulator import FRAME, speech
from telephony.tests.fake_twilio import FakeTwilioRest
from telephony.tests.test_end_to_end import (
    ROOT,
    caller_for,
    offline_agent,
    run_daphne,
    server_env,
)

pytestmark = pytest.mark.django_db(transaction=True)

QUIET_SECONDS = 25  # each longer than any Redis or socket read timeout


def quiet(seconds: float) -> bytes:
    return b"\xff" * (int(seconds * 8000) // FRAME * FRAME)


@pytest.fixture
def redis_daphne(transactional_db, twilio_rest):
    env = {**server_env(twilio_rest), "TEST_CHANNEL_LAYER": "redis"}
    with run_daphne(env) as url:
        yield url


@pytest.fixture
def rq_worker(transactional_db, twilio_rest):
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "default", "telephony"],
        cwd=ROOT,
        env=server_env(twilio_rest),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.mark.timeout(240)
async def test_a_call_longer_than_a_minute_on_redis_with_an_rq_worker(
    world_a, redis_daphne, rq_worker
):
    await database_sync_to_async(offline_agent)(
        world_a, silence_reprompt_seconds=60, silence_hangup_seconds=90
    )
    FakeTwilioRest.requests.clear()
    caller = caller_for(world_a, redis_daphne)
    caller.reply_timeout = 40
    started = time.monotonic()
    report = await caller.run(
        [
            speech("What are your hours?"),
            quiet(QUIET_SECONDS) + speech("What are your hours?"),
            quiet(QUIET_SECONDS) + speech("Thank you, goodbye."),
        ]
    )
    assert time.monotonic() - started > 60
    assert report.closed_by_server  # the agent said goodbye and hung up
    assert all(reply.first_frame_at is not None for reply in report.replies)

    # The last records are written once the socket has closed.
    deadline = time.monotonic() + 20
    while not (call := await Call.objects.aget(twilio_call_sid=caller.call_sid)).is_final:
        assert time.monotonic() < deadline, call.status
        await database_sync_to_async(time.sleep)(0.2)
    assert call.status == "completed" and call.outcome == "agent_ended"
    turns = [t async for t in Turn.objects.filter(call=call).order_by("index")]
    assert [t.speaker for t in turns] == ["agent", *["caller", "agent"] * 3]
    assert "nine to five" in turns[2].text and "nine to five" in turns[4].text
    assert turns[6].text == "Thank you for calling. Goodbye!"
    kinds = [e.kind async for e in CallEvent.objects.filter(call=call)]
    assert kinds.count("started") == 1 and kinds[-1] == "ended"
    assert "error" not in kinds

    # The hang-up is a REST request made by the running rq worker, not by the web process.
    path = f"/2010-04-01/Accounts/{world_a.account.account_sid}/Calls/{caller.call_sid}.json"
    deadline = time.monotonic() + 30
    while not any(p == path for p, _ in FakeTwilioRest.requests):
        assert time.monotonic() < deadline, rq_worker.stdout.peek().decode()[-2000:]
        assert rq_worker.poll() is None, rq_worker.stdout.read().decode()[-2000:]
        await database_sync_to_async(time.sleep)(0.2)
    assert dict(FakeTwilioRest.requests)[path] == {"Status": ["completed"]}
