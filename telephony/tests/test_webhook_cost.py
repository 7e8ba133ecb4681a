"""What a voice webhook costs: in a burst of calls its CPU is the process's bottleneck, so the
account is read once per cache period, each query reads only the columns it needs, and a first
webhook opens its call with one INSERT and no read before it."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from calls.live import plan_call
from calls.models import Call
from telephony.models import TwilioAccount
from telephony.tests.test_media_burst import _fresh_token_cache  # noqa: F401 (autouse)
from telephony.tests.test_webhooks import signed_post, voice_params

VOICE = "/telephony/twilio/voice/"


def _voice(client, world, n: int, token: str = "token-a"):
    return signed_post(client, VOICE, voice_params(world, call_sid=f"CA{n:032d}"), token)


def _queries_on(queries, table: str) -> list[str]:
    return [q["sql"] for q in queries if f'FROM "{table}"' in q["sql"]]


def test_the_account_is_read_once_for_a_run_of_webhooks(client, world_a):
    assert _voice(client, world_a, 1).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert _voice(client, world_a, 2).status_code == 200
    assert _queries_on(second.captured_queries, "telephony_twilioaccount") == []
    assert Call.objects.filter(twilio_call_sid=f"CA{2:032d}").exists()


def test_a_token_rotated_by_another_process_signs_at_once(client, world_a):
    assert _voice(client, world_a, 1).status_code == 200  # the account is cached
    # Another process saves the new token: no signal reaches this one's cache.
    account = TwilioAccount.objects.get(pk=world_a.account.pk)
    account.auth_token = "token-rotated"
    TwilioAccount.objects.bulk_update([account], ["auth_token"])

    assert _voice(client, world_a, 2, token="token-rotated").status_code == 200
    assert _voice(client, world_a, 3, token="token-a").status_code == 403


def test_a_change_saved_here_is_seen_at_once(client, world_a):
    assert _voice(client, world_a, 1).status_code == 200
    account = TwilioAccount.objects.get(pk=world_a.account.pk)
    account.auth_token = "token-new"
    account.save()
    assert _voice(client, world_a, 2, token="token-a").status_code == 403
    world_a.account.numbers.all().delete()
    Call.objects.filter(tenant=world_a.tenant).delete()
    TwilioAccount.objects.filter(pk=account.pk).delete()
    # The deletion went through the ORM's signals too: the account is no longer known.
    assert _voice(client, world_a, 3, token="token-new").status_code == 403


def test_a_first_webhook_reads_no_whole_row_and_opens_the_call_with_one_insert(client, world_a):
    _voice(client, world_a, 1)  # the account cached, as in a run of calls
    with CaptureQueriesContext(connection) as first:
        assert _voice(client, world_a, 2).status_code == 200
    statements = [q["sql"] for q in first.captured_queries]
    selects = [s for s in statements if s.startswith("SELECT")]
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert len(selects) == 2, selects  # is the call known; the number, its agent and tenant
    assert len(inserts) == 1 and "calls_call" in inserts[0]
    for wide in ('"calls_call"."status_history"', '"calls_agent"."system_prompt"'):
        assert not any(wide in s for s in selects), wide
    assert statements.index(inserts[0]) > max(statements.index(s) for s in selects)


def test_a_repeated_webhook_gets_the_same_call(client, world_a):
    first = _voice(client, world_a, 7)
    again = _voice(client, world_a, 7)
    assert first.status_code == again.status_code == 200
    assert Call.objects.filter(twilio_call_sid=f"CA{7:032d}").count() == 1


def test_a_call_set_up_reads_its_tenant_once(client, world_a):
    _voice(client, world_a, 1)
    call = Call.objects.get(twilio_call_sid=f"CA{1:032d}")
    with CaptureQueriesContext(connection) as set_up:
        assert plan_call(call.pk, "MZ" + "1" * 32) is not None
    assert _queries_on(set_up.captured_queries, "voiceapp_tenant") == []


def test_an_inbound_call_ends_without_whole_rows_or_campaign_queries(
    client, world_a, django_capture_on_commit_callbacks
):
    from calls.engine.recorder import _finish_call

    _voice(client, world_a, 1)
    call = Call.objects.get(twilio_call_sid=f"CA{1:032d}")
    plan_call(call.pk, "MZ" + "1" * 32)
    with (
        CaptureQueriesContext(connection) as ending,
        django_capture_on_commit_callbacks(execute=True),
    ):
        _finish_call(call.pk, "caller_hung_up", "", 0)
    selects = [q["sql"] for q in ending.captured_queries if q["sql"].startswith("SELECT")]
    assert not any('"calls_call"."agent_id"' in s for s in selects), selects  # a whole row
    assert _queries_on(ending.captured_queries, "campaigns_attempt") == []
    call.refresh_from_db()
    assert (call.status, call.outcome) == ("completed", "caller_hung_up")
