"""Recording retention: a tenant's policy (days) deletes its older recordings, locally and in the
bucket, on time, once, and says so on the call; other tenants' and newer recordings stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler

from calls.models import Call, CallEvent
from calls.retention import (
    RECORDING_PURGED,
    RetentionIncomplete,
    delete_expired_recordings,
    delete_recording,
)
from calls.tests import s3

s3_server, s3_bucket = s3.s3_server, s3.s3_bucket  # the fixtures, for this module
NOW = timezone.now()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def recorded_call(world, *, days_ago: float, content: bytes = b"RIFF-audio") -> Call:
    call = Call.objects.create(
        tenant=world.tenant,
        agent=world.agent,
        direction=Call.Direction.INBOUND,
        from_number="+14155559999",
        to_number=world.number.number,
    )
    call.recording.save(f"call-{call.pk}.wav", ContentFile(content))
    Call.objects.filter(pk=call.pk).update(created_at=NOW - timedelta(days=days_ago))
    call.refresh_from_db()
    return call


def keep_for(world, days: int | None) -> None:
    world.tenant.recording_retention_days = days
    world.tenant.save(update_fields=["recording_retention_days"])


def purged(call: Call) -> list[dict]:
    return list(
        CallEvent.objects.filter(call=call, kind=RECORDING_PURGED).values_list("data", flat=True)
    )


def test_old_local_recordings_go_and_the_call_says_so(world_a, world_b, settings):
    keep_for(world_a, 30)
    old = recorded_call(world_a, days_ago=31)
    new = recorded_call(world_a, days_ago=29)
    other_tenant = recorded_call(world_b, days_ago=400)  # world_b keeps recordings
    old_name = old.recording.name
    old_file = Path(settings.MEDIA_ROOT) / old_name

    assert old_file.exists()
    assert delete_expired_recordings(now=NOW) == 1

    assert not old_file.exists()
    old.refresh_from_db()
    assert not old.recording
    (event,) = CallEvent.objects.filter(call=old, kind=RECORDING_PURGED)
    assert event.at == NOW
    assert event.data == {
        "reason": "retention",
        "policy_days": 30,
        "file": old_name,
    }
    for kept in (new, other_tenant):
        kept.refresh_from_db()
        assert (Path(settings.MEDIA_ROOT) / kept.recording.name).read_bytes() == b"RIFF-audio"
        assert purged(kept) == []


def test_running_twice_deletes_once(world_a):
    keep_for(world_a, 7)
    old = recorded_call(world_a, days_ago=8)
    assert delete_expired_recordings(now=NOW) == 1
    assert delete_expired_recordings(now=NOW) == 0
    assert delete_recording(old.pk, policy_days=7) is False  # nothing left to delete
    assert len(purged(old)) == 1


def test_on_time_not_before(world_a):
    keep_for(world_a, 30)
    call = recorded_call(world_a, days_ago=0)
    made = call.created_at
    assert delete_expired_recordings(now=made + timedelta(days=30) - timedelta(seconds=1)) == 0
    call.refresh_from_db()
    assert call.recording
    assert delete_expired_recordings(now=made + timedelta(days=30, seconds=1)) == 1
    call.refresh_from_db()
    assert not call.recording


def test_no_policy_keeps_everything(world_a):
    keep_for(world_a, None)
    call = recorded_call(world_a, days_ago=3650)
    assert delete_expired_recordings(now=NOW) == 0
    call.refresh_from_db()
    assert call.recording


def test_a_shorter_policy_applies_at_the_next_run(world_a):
    keep_for(world_a, 90)
    call = recorded_call(world_a, days_ago=45)
    assert delete_expired_recordings(now=NOW) == 0
    keep_for(world_a, 30)
    assert delete_expired_recordings(now=NOW) == 1
    assert purged(call)[0]["policy_days"] == 30


def test_the_policy_is_at_least_a_day(world_a):
    world_a.tenant.recording_retention_days = 0
    with pytest.raises(ValidationError) as error:
        world_a.tenant.full_clean()
    assert "recording_retention_days" in error.value.message_dict


def test_a_file_the_storage_will_not_delete_is_retried_and_the_rest_go(world_a, monkeypatch):
    keep_for(world_a, 1)
    stuck = recorded_call(world_a, days_ago=5)
    others = [recorded_call(world_a, days_ago=5) for _ in range(2)]
    real_delete = FileSystemStorage.delete

    def refuse_one(storage, name):
        if name == stuck.recording.name:
            raise PermissionError(f"cannot delete {name}")
        real_delete(storage, name)

    monkeypatch.setattr(FileSystemStorage, "delete", refuse_one)
    with pytest.raises(RetentionIncomplete, match="1 recordings"):
        delete_expired_recordings(now=NOW)
    stuck.refresh_from_db()
    assert stuck.recording and purged(stuck) == []  # nothing recorded that did not happen
    for call in others:
        call.refresh_from_db()
        assert not call.recording and len(purged(call)) == 1

    monkeypatch.setattr(FileSystemStorage, "delete", real_delete)
    assert delete_expired_recordings(now=NOW) == 1  # the next run gets it


def test_a_file_already_gone_is_still_recorded_as_deleted(world_a, settings):
    keep_for(world_a, 1)
    call = recorded_call(world_a, days_ago=2)
    (Path(settings.MEDIA_ROOT) / call.recording.name).unlink()
    assert delete_expired_recordings(now=NOW) == 1
    call.refresh_from_db()
    assert not call.recording and len(purged(call)) == 1


def test_the_tenants_staff_see_the_event_and_no_player(client, world_a):
    keep_for(world_a, 1)
    call = recorded_call(world_a, days_ago=2)
    delete_expired_recordings(now=NOW)
    client.force_login(world_a.staff)
    page = client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    assert RECORDING_PURGED in page and "No recording." in page
    assert client.get(reverse("admin:calls_call_recording", args=[call.pk])).status_code == 404


# -- in the bucket


def test_old_recordings_leave_the_bucket(world_a, world_b, s3_bucket):
    keep_for(world_a, 30)
    keep_for(world_b, 30)
    old = recorded_call(world_a, days_ago=31)
    new = recorded_call(world_a, days_ago=1)
    other = recorded_call(world_b, days_ago=2)
    assert sorted(s3_bucket.keys()) == sorted(c.recording.name for c in (old, new, other))
    old_name = old.recording.name

    assert delete_expired_recordings(now=NOW) == 1
    assert sorted(s3_bucket.keys()) == sorted([new.recording.name, other.recording.name])
    old.refresh_from_db()
    assert not old.recording and purged(old)[0]["file"] == old_name
    assert delete_expired_recordings(now=NOW) == 0


# -- concurrency and the schedule


@pytest.mark.django_db(transaction=True)
def test_a_call_another_run_holds_is_skipped(world_a):
    keep_for(world_a, 1)
    call = recorded_call(world_a, days_ago=2)
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]
    ) as other:
        other.execute("SELECT id FROM calls_call WHERE id = %s FOR UPDATE", [call.pk])
        assert delete_expired_recordings(now=NOW) == 0  # skipped, not waited for
        other.rollback()
    assert delete_expired_recordings(now=NOW) == 1


@pytest.mark.django_db(transaction=True)
def test_the_cron_config_runs_retention_on_rq(world_a):
    keep_for(world_a, 1)
    call = recorded_call(world_a, days_ago=2)
    connection_ = redis.Redis.from_url(django_settings.REDIS_URL)
    scheduler = CronScheduler(connection=connection_, name="test-cron-retention")
    scheduler.load_config_from_file("voiceapp.cron")
    (job,) = [job for job in scheduler.get_jobs() if job.func is delete_expired_recordings]
    assert job.interval == django_settings.RECORDING_RETENTION_INTERVAL_SECONDS == 3600
    assert job.queue_name == "default"

    queue = Queue("default", connection=connection_)
    queue.empty()
    assert job in scheduler.enqueue_jobs()
    SimpleWorker([queue], connection=connection_).work(burst=True)
    call.refresh_from_db()
    assert not call.recording and len(purged(call)) == 1


def test_an_owner_sets_the_policy_on_the_tenants_admin_page(client, world_a, world_b):
    client.force_login(world_a.staff)  # an owner of tenant A
    url = reverse("admin:voiceapp_tenant_change", args=[world_a.tenant.pk])
    # the rest of the tenant is the platform's: posted, it is ignored
    form = {"name": "Renamed", "slug": "renamed", "time_zone": "UTC", "active": ""}
    response = client.post(url, {**form, "recording_retention_days": "30"})
    assert response.status_code == 302
    world_a.tenant.refresh_from_db()
    assert world_a.tenant.recording_retention_days == 30
    assert (world_a.tenant.name, world_a.tenant.slug, world_a.tenant.active) == (
        "Shop A",
        "a",
        True,
    )
    page = client.post(url, {**form, "recording_retention_days": "0"}).content.decode()
    assert "Ensure this value is greater than or equal to 1" in page
    # another tenant's policy is not theirs to see or set
    other = reverse("admin:voiceapp_tenant_change", args=[world_b.tenant.pk])
    assert client.post(other, {**form, "recording_retention_days": "1"}).status_code in (302, 404)
    world_b.tenant.refresh_from_db()
    assert world_b.tenant.recording_retention_days is None


def test_a_member_who_is_not_an_owner_cannot_set_it(client, world_a):
    from django.contrib.auth import get_user_model

    from voiceapp.models import Membership

    clerk = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    Membership.objects.create(user=clerk, tenant=world_a.tenant, role=Membership.Role.STAFF)
    client.force_login(clerk)
    url = reverse("admin:voiceapp_tenant_change", args=[world_a.tenant.pk])
    assert client.get(url).status_code == 200  # they see it
    assert client.post(url, {"recording_retention_days": "1"}).status_code == 403
    world_a.tenant.refresh_from_db()
    assert world_a.tenant.recording_retention_days is None
