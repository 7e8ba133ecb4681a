"""Call records through a database hiccup: kept in order and retried until written, bounded in
memory, and never a silently "completed" call over missing rows."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.db import OperationalError, connection, transaction

from calls.engine import recorder as recorder_module
from calls.engine.recorder import CallRecorder
from calls.models import Call, CallEvent, CallStatus, Turn
from calls.tests.conftest import _make_call, speak, until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    monkeypatch.setattr(recorder_module, "RETRY_FIRST", 0.01, raising=False)
    monkeypatch.setattr(recorder_module, "RETRY_MAX", 0.05, raising=False)


class FlakyDatabase:
    """`_run_batch` failing with OperationalError while `down` (or for the first `fail_first`
    attempts), as a locked or restarting database does."""

    def __init__(self, monkeypatch, *, fail_first: int = 0) -> None:
        self.real = recorder_module._run_batch
        self.fail_first = fail_first
        self.down = False
        self.attempts = 0
        self.failures = 0
        monkeypatch.setattr(recorder_module, "_run_batch", self)

    def __call__(self, ops) -> None:
        self.attempts += 1
        if self.down or self.attempts <= self.fail_first:
            self.failures += 1
            raise OperationalError("database is locked")
        self.real(ops)


@sync_to_async
def rows(call_id):
    call = Call.objects.get(pk=call_id)
    turns = list(Turn.objects.filter(call=call).order_by("index").values_list("speaker", "text"))
    events = list(CallEvent.objects.filter(call=call).order_by("at", "pk"))
    return call, turns, events


async def test_a_database_error_mid_call_loses_no_record(build_session, monkeypatch):
    """As found: the database failing for a moment mid-call kept only the greeting and
    "started"; the call was marked completed anyway. Now every record lands, in order, and the
    call is completed only after them."""
    session, transport = await build_session(texts=["What are your hours?", "Thanks, goodbye"])
    await until(lambda: not session.agent_active)
    flaky = FlakyDatabase(monkeypatch)
    flaky.down = True  # the database goes away mid-call
    finished_after: list[int] = []
    real_finish = recorder_module._finish_call

    def finish(*args):
        finished_after.append(Turn.objects.filter(call_id=session.call_id).count())
        real_finish(*args)

    monkeypatch.setattr(recorder_module, "_finish_call", finish)
    await speak(session)
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await until(lambda: not session.agent_active)
    await until(lambda: flaky.failures >= 3)
    call, turns, _ = await rows(session.call_id)
    assert len(turns) == 1 and call.status != "completed"  # nothing written while it is down
    await speak(session)
    await until(lambda: "hangup" in transport.kinds())
    flaky.down = False  # the database is back
    await asyncio.wait_for(session.wait_closed(), 10)

    call, turns, events = await rows(session.call_id)
    assert turns == [
        ("agent", "Hi."),
        ("caller", "What are your hours?"),
        ("agent", "We are open from nine to five."),
        ("caller", "Thanks, goodbye"),
        ("agent", "Thank you for calling. Goodbye!"),
    ]
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "ended"
    assert [e.data["name"] for e in events if e.kind == "tool_call"] == ["lookup_info", "end_call"]
    assert "error" not in kinds
    assert call.status == "completed" and call.outcome == "agent_ended"
    assert finished_after == [5]  # finalized once, after every turn was written


async def test_a_real_table_lock_delays_records_and_loses_none(build_session, settings):
    """Another connection holds an ACCESS EXCLUSIVE lock on the turns table: the writer's
    statements time out (RECORDER_STATEMENT_TIMEOUT_MS), it retries, and once the lock is gone
    everything lands."""
    settings.RECORDER_STATEMENT_TIMEOUT_MS = 200
    db = connection.settings_dict
    locker = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=False
    )
    failures = []
    real = recorder_module._run_batch

    def spy(ops):
        try:
            real(ops)
        except OperationalError as error:
            failures.append(str(error))
            raise

    try:
        session, transport = await build_session(texts=["What are your hours?"])
        await until(lambda: not session.agent_active)
        await until(lambda: session.recorder.pending == 0)
        recorder_module._run_batch = spy
        await asyncio.to_thread(locker.execute, "LOCK TABLE calls_turn IN ACCESS EXCLUSIVE MODE")
        await speak(session)
        await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
        await until(lambda: len(failures) >= 2, timeout=10)
        await asyncio.to_thread(locker.rollback)  # the lock is released
        await session.close("caller_hung_up")
    finally:
        recorder_module._run_batch = real
        locker.close()

    call, turns, events = await rows(session.call_id)
    assert "statement timeout" in failures[0]
    assert turns == [
        ("agent", "Hi."),
        ("caller", "What are your hours?"),
        ("agent", "We are open from nine to five."),
    ]
    assert events[-1].kind == "ended"
    assert call.status == "completed" and call.outcome == "caller_hung_up"


async def _recorder(**options) -> CallRecorder:
    call = await sync_to_async(_make_call)()
    await Call.objects.filter(pk=call.pk).aupdate(status=CallStatus.IN_PROGRESS)
    recorder = CallRecorder(call.pk, **options)
    recorder.start()
    return recorder


async def test_giving_up_logs_the_loss_and_never_completes_silently(monkeypatch, caplog):
    flaky = FlakyDatabase(monkeypatch)
    flaky.down = True
    recorder = await _recorder(give_up_after=0.3)
    recorder.event("started")
    for n in range(3):
        record = recorder.new_turn("agent")
        record.text = f"line {n}"
        recorder.save_turn(record)
    recorder.event("ended", outcome="caller_hung_up")
    with caplog.at_level(logging.ERROR, logger="calls.engine.recorder"):
        await recorder.close(outcome="caller_hung_up", audio=None)

    loss = [r for r in caplog.records if "records lost" in r.getMessage()]
    assert len(loss) == 1
    assert str(recorder.call_id) in loss[0].getMessage() and loss[0].records_lost == 5
    call, turns, events = await rows(recorder.call_id)
    assert turns == []
    assert call.outcome == "records_lost" and call.status == "completed"
    assert [(e.kind, e.data) for e in events] == [
        ("error", {"records_lost": 5, "outcome": "caller_hung_up"})
    ]


async def test_with_the_database_still_away_the_call_is_left_to_the_reaper(monkeypatch, caplog):
    flaky = FlakyDatabase(monkeypatch)
    flaky.down = True

    def finish_fails(*args):
        raise OperationalError("the database is away")

    monkeypatch.setattr(recorder_module, "_finish_call", finish_fails)
    recorder = await _recorder(give_up_after=0.2)
    recorder.event("ended", outcome="caller_hung_up")
    with caplog.at_level(logging.ERROR, logger="calls.engine.recorder"):
        await recorder.close(outcome="caller_hung_up", audio=None)
    assert any("the reaper will finalize it" in r.getMessage() for r in caplog.records)
    call, _, _ = await rows(recorder.call_id)
    assert call.status == "in-progress" and call.outcome == ""  # not completed over lost rows


async def test_memory_is_bounded_and_ended_is_kept(monkeypatch):
    flaky = FlakyDatabase(monkeypatch)
    flaky.down = True
    recorder = await _recorder(max_pending=10, give_up_after=30)
    for n in range(50):
        recorder.event("dtmf", digit=str(n % 10), n=n)
        assert recorder.pending <= 10
    recorder.event("ended", outcome="caller_hung_up")  # past the cap, still queued
    assert recorder.pending == 11 and recorder.lost == 40
    await until(lambda: flaky.failures >= 2)
    flaky.down = False
    await recorder.close(outcome="caller_hung_up", audio=None)

    call, _, events = await rows(recorder.call_id)
    assert [e.data.get("n") for e in events[:10]] == list(range(10))  # in order
    assert events[10].kind == "ended"
    assert events[11].kind == "error" and events[11].data["records_lost"] == 40
    assert call.outcome == "records_lost" and call.status == "completed"


async def test_a_record_the_database_refuses_is_skipped_alone():
    recorder = await _recorder()
    recorder.event("started")
    bad = recorder.new_turn("x" * 40)  # too long for the column: refused for good
    recorder.save_turn(bad)
    good = recorder.new_turn("caller")
    good.text = "still here"
    recorder.save_turn(good)
    recorder.event("ended", outcome="caller_hung_up")
    await recorder.close(outcome="caller_hung_up", audio=None)
    call, turns, events = await rows(recorder.call_id)
    assert turns == [("caller", "still here")]
    assert [e.kind for e in events] == ["started", "ended", "error"]
    assert call.outcome == "records_lost" and events[-1].data["records_lost"] == 1


async def test_a_turn_saved_again_is_updated_in_place():
    """A reply is written when it ends and again when it is cut short later: one row, the
    latest words."""
    recorder = await _recorder()
    reply = recorder.new_turn("agent")
    reply.text = "We are open from nine to five every day."
    recorder.save_turn(reply)
    reply.text, reply.interrupted = "We are open from nine", True
    recorder.save_turn(reply)
    recorder.event("ended", outcome="caller_hung_up")
    await recorder.close(outcome="caller_hung_up", audio=None)
    _, turns, _ = await rows(recorder.call_id)
    assert turns == [("agent", "We are open from nine")]
    assert (await Turn.objects.aget(call_id=recorder.call_id)).interrupted


def test_a_turn_is_written_in_one_statement(django_assert_num_queries):
    """Inside the writer's batch (one transaction), a turn is one INSERT ... ON CONFLICT, new
    or saved before."""
    call = _make_call()
    values = {"speaker": "caller", "text": "Two, please.", "started_at": call.created_at}
    with transaction.atomic():
        with django_assert_num_queries(1):
            recorder_module._save_turn(call.pk, 0, values)
        with django_assert_num_queries(1):
            recorder_module._save_turn(call.pk, 0, {**values, "text": "Two, please, and a cookie."})
    assert list(Turn.objects.values_list("index", "text")) == [(0, "Two, please, and a cookie.")]
