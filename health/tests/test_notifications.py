"""A provider that starts failing, and recovers, is told to its owners once each way."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.core import mail
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler

from health import actions
from health.checks import Result, Target
from health.jobs import check_providers
from health.models import Notice, ProviderCheck, ProviderStatus


def sent() -> list[tuple[str, list[str]]]:
    return [(m.subject, m.to) for m in mail.outbox]


def test_a_twilio_failure_and_recovery_notify_the_owners_once_each_way(
    twilio_up, no_platform_keys, people, world_a
):
    label = f"Twilio Account a ({world_a.account.account_sid}) of Shop A"
    assert check_providers() == 2
    assert mail.outbox == []  # working from the first check: nothing to say

    token = twilio_up.twilio_tokens.pop(world_a.account.account_sid)
    check_providers()
    check_providers()  # still failing: no second email
    assert sent() == [(f"{label} is failing", ["owner-a@example.com"])]
    assert "401" in mail.outbox[0].body
    status = ProviderStatus.objects.get(key=f"twilio:{world_a.account.account_sid}")
    assert status.ok is False and status.failing_since is not None
    assert status.tenant == world_a.tenant and "401" in status.last_error

    twilio_up.twilio_tokens[world_a.account.account_sid] = token
    check_providers()
    check_providers()
    assert sent()[1:] == [(f"{label} works again", ["owner-a@example.com"])]
    status.refresh_from_db()
    assert status.ok is True and status.failing_since is None and status.last_error == ""
    assert list(status.checks.values_list("ok", flat=True)) == [True, True, False, False, True]


def test_a_platform_provider_failure_is_told_to_the_superusers(twilio_up, people):
    twilio_up.down.add("groq")
    check_providers()
    assert sent() == [("Groq is failing", ["root@example.com"])]
    assert "503" in mail.outbox[0].body


def result(ok: bool, key: str = "groq") -> Result:
    return Result(Target(key, key.title(), lambda timeout: None), ok, 12, "" if ok else "boom")


def test_a_failure_from_the_first_check_is_told(people):
    actions.record_check(result(False))
    assert ProviderStatus.objects.get(key="groq").pending_notice == Notice.FAILED
    assert actions.send_pending_notices() == 1
    assert actions.send_pending_notices() == 0  # told once
    assert sent() == [("Groq is failing", ["root@example.com"])]


def test_a_change_undone_before_it_was_told_says_nothing(people):
    actions.record_check(result(True))
    actions.record_check(result(False))
    actions.record_check(result(True))
    assert actions.send_pending_notices() == 0
    assert mail.outbox == []

    actions.record_check(result(False))
    actions.send_pending_notices()
    actions.record_check(result(True))
    actions.record_check(result(False))  # failing again before "works again" went out
    actions.send_pending_notices()
    assert sent() == [("Groq is failing", ["root@example.com"])]


def test_an_email_that_fails_is_sent_on_the_next_run(people, monkeypatch):
    actions.record_check(result(False))

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr(actions, "send_mail", refuse)
    with pytest.raises(ConnectionRefusedError):
        actions.send_pending_notices()
    assert ProviderStatus.objects.get(key="groq").pending_notice == Notice.FAILED
    monkeypatch.undo()
    assert actions.send_pending_notices() == 1
    assert sent() == [("Groq is failing", ["root@example.com"])]


def test_old_history_is_pruned(people):
    from datetime import timedelta

    from django.utils import timezone

    old = actions.record_check(result(True))
    recent = actions.record_check(result(True))
    ProviderCheck.objects.filter(pk=old.pk).update(
        checked_at=timezone.now() - timedelta(days=actions.HISTORY_DAYS + 1)
    )
    assert actions.prune_history() == 1
    assert list(ProviderCheck.objects.values_list("pk", flat=True)) == [recent.pk]


def test_the_cron_config_runs_the_check_on_rq(providers):
    connection = redis.Redis.from_url(settings.REDIS_URL)
    scheduler = CronScheduler(connection=connection, name="test-health-cron")
    scheduler.load_config_from_file("voiceapp.cron")
    (job,) = [job for job in scheduler.get_jobs() if job.func is check_providers]
    assert job.interval == settings.HEALTH_CHECK_SECONDS == 300
    assert job.queue_name == "default"
    queue = Queue("default", connection=connection)
    queue.empty()
    assert job in scheduler.enqueue_jobs()
    providers.down.add("deepgram")
    SimpleWorker([queue], connection=connection).work(burst=True)
    states = dict(ProviderStatus.objects.values_list("key", "ok"))
    assert states == {"deepgram": False, "elevenlabs": True, "groq": True, "openai": True}


def test_a_provider_no_longer_configured_is_forgotten(twilio_up, people, settings, world_b):
    twilio_up.down.add("groq")
    check_providers()
    settings.GROQ_API_KEY = ""
    world_b.tenant.active = False
    world_b.tenant.save()
    check_providers()
    keys = set(ProviderStatus.objects.values_list("key", flat=True))
    assert "groq" not in keys and f"twilio:{world_b.account.account_sid}" not in keys
    assert {"deepgram", "elevenlabs", "openai"} <= keys
