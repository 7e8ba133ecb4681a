"""Recordings in an S3-compatible bucket (moto's server on 127.0.0.1): written there by the
recorder, private, and heard only through the tenant-checked views, which redirect the call's
own staff to a short-lived presigned URL (or stream the bytes with RECORDINGS_PRESIGNED_SECONDS=0).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.core.files.base import ContentFile
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from calls.audio import pcm16_to_wav
from calls.engine.recorder import CallAudio, CallRecorder
from calls.models import Call
from calls.tests import s3
from voiceapp.tests import test_browser as chromium

s3_server, s3_bucket = s3.s3_server, s3.s3_bucket  # the fixtures, for this module
browser = chromium.browser
ROOT = Path(__file__).resolve().parents[2]
AUDIO = b"RIFF" + bytes(range(256)) * 40


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def recorded(world_a, world_b, s3_bucket):
    world_a.call.recording.save(f"call-{world_a.call.pk}.wav", ContentFile(AUDIO))
    world_b.call.recording.save(f"call-{world_b.call.pk}.wav", ContentFile(b"RIFF-other"))
    return world_a.call


def admin_url(call) -> str:
    return reverse("admin:calls_call_recording", args=[call.pk])


def api_url(call) -> str:
    return f"/api/calls/{call.pk}/recording/"


def api_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def fetch(url: str, **headers: str) -> tuple[int, Message, bytes]:
    """GET from outside Django (as the browser does after the redirect): status, headers, body."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# -- stored in the bucket


@pytest.mark.django_db(transaction=True)
async def test_the_recorder_writes_the_call_audio_to_the_bucket(world_a, s3_bucket, settings):
    recorder = CallRecorder(world_a.call.pk)
    recorder.start()
    audio = CallAudio(time.monotonic())
    audio.add_caller(b"\x7f\x00" * 4000)  # half a second of the caller, mu-law
    await recorder.close(outcome="caller_hung_up", audio=audio)

    call = await database_sync_to_async(Call.objects.get)(pk=world_a.call.pk)
    assert call.recording.name.startswith("recordings/") and call.recording.name.endswith(".wav")
    assert s3_bucket.keys() == [call.recording.name]
    wav = s3_bucket.read(call.recording.name)
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and len(wav) > 8000
    assert not await asyncio.to_thread(Path(settings.MEDIA_ROOT).exists)  # nothing written here


def test_the_object_is_private(recorded, s3_bucket):
    grants = s3_bucket.client.get_object_acl(Bucket=s3_bucket.name, Key=recorded.recording.name)
    assert [g["Permission"] for g in grants["Grants"]] == ["FULL_CONTROL"]
    assert all(g["Grantee"]["Type"] == "CanonicalUser" for g in grants["Grants"])  # no AllUsers
    status, _, content = fetch(f"{s3_bucket.endpoint}/{s3_bucket.name}/{recorded.recording.name}")
    assert status == 403 and AUDIO not in content  # no unsigned reading


# -- served to the call's own staff


@pytest.mark.parametrize("via", ["admin", "api"])
def test_own_staff_are_sent_to_a_short_lived_presigned_url(client, world_a, recorded, via):
    if via == "admin":
        client.force_login(world_a.staff)
        response = client.get(admin_url(recorded))
    else:
        response = api_client(world_a.staff).get(api_url(recorded), HTTP_ACCEPT="audio/*")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    location = response["Location"]
    assert location.startswith(f"{recorded.recording.storage.endpoint_url}/")
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["300"] and "X-Amz-Signature" in query

    status, headers, content = fetch(location)
    assert status == 200 and content == AUDIO
    assert headers["Content-Type"] == "audio/wav"
    assert headers["Content-Disposition"] == f'inline; filename="call-{recorded.pk}.wav"'
    assert headers["Cache-Control"] == "private"
    # the player seeks: the bucket answers the byte range itself
    status, headers, content = fetch(location, Range="bytes=100-199")
    assert status == 206 and content == AUDIO[100:200]


def test_the_url_lives_as_long_as_the_setting_says(staff_client, recorded, settings):
    settings.RECORDINGS_PRESIGNED_SECONDS = 45
    location = staff_client.get(admin_url(recorded))["Location"]
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["45"]


def test_a_tampered_url_is_refused_by_the_bucket(staff_client, recorded):
    location = staff_client.get(admin_url(recorded))["Location"]
    other = location.replace(f"call-{recorded.pk}.wav", "call-999.wav")
    assert other != location
    assert fetch(other)[0] == 403


@pytest.fixture
def staff_client(client, world_a):
    client.force_login(world_a.staff)
    return client


# -- refused to the others


def test_anonymous_gets_no_url(client, recorded, s3_bucket):
    response = client.get(admin_url(recorded))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    response = APIClient().get(api_url(recorded))
    assert response.status_code in (401, 403)
    assert s3_bucket.endpoint not in response.content.decode()


def test_another_tenants_staff_get_404(client, world_b, recorded, s3_bucket):
    client.force_login(world_b.staff)
    response = client.get(admin_url(recorded))
    assert response.status_code == 404 and s3_bucket.endpoint not in response.content.decode()
    assert api_client(world_b.staff).get(api_url(recorded)).status_code == 404


def test_a_user_of_no_tenant_gets_nothing(client, outsider, recorded):
    client.force_login(outsider)
    assert client.get(admin_url(recorded)).status_code == 404
    assert api_client(outsider).get(api_url(recorded)).status_code == 403


def test_an_object_gone_from_the_bucket_is_404(staff_client, recorded, s3_bucket):
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=recorded.recording.name)
    assert staff_client.get(admin_url(recorded)).status_code == 404


# -- streamed through the app instead (a bucket the browsers cannot reach)


def test_with_no_presigning_the_app_streams_it_with_ranges(staff_client, recorded, settings):
    settings.RECORDINGS_PRESIGNED_SECONDS = 0
    response = staff_client.get(admin_url(recorded))
    assert response.status_code == 200 and body(response) == AUDIO
    assert response["Cache-Control"] == "private"
    response = staff_client.get(admin_url(recorded), HTTP_RANGE="bytes=-4")
    assert response.status_code == 206 and body(response) == AUDIO[-4:]
    assert response["Content-Range"] == f"bytes {len(AUDIO) - 4}-{len(AUDIO) - 1}/{len(AUDIO)}"


def test_local_files_stay_the_default_and_are_streamed(staff_client, world_a, settings):
    assert settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage")
    world_a.call.recording.save("call.wav", ContentFile(AUDIO))
    assert (Path(settings.MEDIA_ROOT) / world_a.call.recording.name).read_bytes() == AUDIO
    response = staff_client.get(admin_url(world_a.call))
    assert response.status_code == 200 and body(response) == AUDIO


# -- the settings


def settings_from(**env: str) -> dict:
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'storage': s.STORAGES['default'], "
        "'media_src': s.CONTENT_SECURITY_POLICY['DIRECTIVES']['media-src'], "
        "'presigned': s.RECORDINGS_PRESIGNED_SECONDS}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AWS_", "REC"))}
    clean.update(
        DJANGO_SETTINGS_MODULE="voiceapp.settings",
        DEBUG="true",
        REDIS_URL="",
        DATABASE_URL="sqlite:///:memory:",
        **env,
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_bucket_comes_from_the_environment():
    local = settings_from()
    assert local["storage"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert local["media_src"] == ["'self'"]

    s3 = settings_from(
        RECORDINGS_S3_BUCKET="acme-recordings",
        AWS_S3_ENDPOINT_URL="https://s3.example.test:9000",
        AWS_S3_ACCESS_KEY_ID="AKIA-test",
        AWS_S3_SECRET_ACCESS_KEY="secret",
        AWS_S3_REGION_NAME="eu-west-1",
        RECORDINGS_PRESIGNED_SECONDS="120",
    )
    options = s3["storage"]["OPTIONS"]
    assert s3["storage"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert options["bucket_name"] == "acme-recordings"
    assert options["endpoint_url"] == "https://s3.example.test:9000"
    assert (options["access_key"], options["secret_key"]) == ("AKIA-test", "secret")
    assert options["region_name"] == "eu-west-1"
    assert options["default_acl"] is None and options["querystring_auth"] is True
    assert options["addressing_style"] == "path"
    assert s3["presigned"] == 120
    # the admin's player may follow the redirect to the bucket, and nowhere else
    assert s3["media_src"] == ["'self'", "https://s3.example.test:9000"]

    aws = settings_from(RECORDINGS_S3_BUCKET="acme", AWS_S3_REGION_NAME="eu-west-1")
    assert aws["storage"]["OPTIONS"]["endpoint_url"] is None
    assert aws["media_src"] == [
        "'self'",
        "https://acme.s3.amazonaws.com",
        "https://acme.s3.eu-west-1.amazonaws.com",
    ]
    streamed = settings_from(RECORDINGS_S3_BUCKET="acme", RECORDINGS_PRESIGNED_SECONDS="0")
    assert streamed["media_src"] == ["'self'"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("AWS_S3_ENDPOINT_URL", "s3.example.test"), ("RECORDINGS_PRESIGNED_SECONDS", "-1")],
)
def test_a_malformed_storage_setting_stops_start_up(name, value):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean.update(DJANGO_SETTINGS_MODULE="voiceapp.settings", DEBUG="true", **{name: value})
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and name in result.stderr.strip().splitlines()[-1]


# -- in a real browser: the admin's player follows the redirect, under the CSP


PLAYER_METADATA = """
const done = arguments[arguments.length - 1];
const audio = document.querySelector("audio");
audio.addEventListener("loadedmetadata", () => done(audio.duration));
audio.addEventListener("error", () => done("error " + (audio.error && audio.error.code)));
audio.preload = "metadata";  // the page says "none": nothing is fetched until asked
audio.load();
"""


def test_the_admin_player_plays_from_the_bucket(browser, live_server, world_a, s3_bucket, settings):
    one_second = (np.sin(np.arange(8000) * 0.3) * 8000).astype(np.int16).tobytes()
    world_a.call.recording.save("call.wav", ContentFile(pcm16_to_wav(one_second, 8000)))
    page = f"{live_server.url}/admin/calls/call/{world_a.call.pk}/change/"
    chromium.log_in(browser, live_server.url, world_a.staff.username, "pw-for-tests")

    # The test browser resolves no name but localhost (not even 127.0.0.1): the same server, so.
    endpoint = s3_bucket.endpoint.replace("127.0.0.1", "localhost")
    storage = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**storage, "OPTIONS": {**storage["OPTIONS"], "endpoint_url": endpoint}},
    }
    # What settings.py makes of AWS_S3_ENDPOINT_URL (tested above): the bucket's origin is allowed
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {**directives, "media-src": ["'self'", endpoint]}
    }
    browser.get(page)
    chromium.requested_urls(browser)
    assert browser.execute_async_script(PLAYER_METADATA) == pytest.approx(1.0, abs=0.01)
    urls = chromium.requested_urls(browser)
    assert any(u.startswith(f"{endpoint}/{s3_bucket.name}/") for u in urls), urls
    assert chromium.csp_violations(browser) == []

    # ...which is needed: without it the browser refuses to follow the redirect
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {**directives, "media-src": ["'self'"]}}
    browser.get(page)
    assert str(browser.execute_async_script(PLAYER_METADATA)).startswith("error")
    assert any("media-src" in message for message in chromium.csp_violations(browser))
