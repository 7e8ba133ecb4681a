"""Recordings: only a call's own tenant's staff hear them, streamed and seekable; /media/ is
served by no URL."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from calls.recordings import RangeNotSatisfiable, RecordingResponse, _Slice, byte_range

ROOT = Path(__file__).resolve().parents[2]
AUDIO = b"RIFF" + bytes(range(256)) * 40  # every slice of it is distinct


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def recorded(world_a, world_b):
    """Both tenants' calls have a recording; world_a's is AUDIO."""
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


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# -- who may hear it


def test_anonymous_gets_no_audio(client, recorded):
    response = client.get(admin_url(recorded))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = APIClient().get(api_url(recorded))
    assert response.status_code in (401, 403)
    assert AUDIO not in body(response)


def test_a_user_of_no_tenant_gets_no_audio(client, outsider, recorded):
    client.force_login(outsider)
    assert client.get(admin_url(recorded)).status_code == 404
    assert api_client(outsider).get(api_url(recorded)).status_code == 403


def test_another_tenants_staff_get_404(client, world_b, recorded):
    client.force_login(world_b.staff)
    assert client.get(admin_url(recorded)).status_code == 404
    assert api_client(world_b.staff).get(api_url(recorded)).status_code == 404


@pytest.mark.parametrize("via", ["admin", "api"])
def test_own_staff_hear_it_whole(client, world_a, recorded, via):
    if via == "admin":
        client.force_login(world_a.staff)
        response = client.get(admin_url(recorded))
    else:
        response = api_client(world_a.staff).get(api_url(recorded), HTTP_ACCEPT="audio/*")
    assert response.status_code == 200
    assert body(response) == AUDIO
    assert response["Content-Type"] == "audio/wav"
    assert response["Content-Length"] == str(len(AUDIO))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private"
    assert response["Content-Disposition"] == f'inline; filename="call-{recorded.pk}.wav"'
    assert "Content-Range" not in response


def test_a_superuser_hears_any_tenants_recording(admin_client, recorded):
    assert body(admin_client.get(admin_url(recorded))) == AUDIO


def test_no_recording_or_a_missing_file_is_404(client, world_a, recorded):
    client.force_login(world_a.staff)
    os.remove(recorded.recording.path)
    assert client.get(admin_url(recorded)).status_code == 404
    recorded.recording = ""
    recorded.save(update_fields=["recording"])
    assert client.get(admin_url(recorded)).status_code == 404
    assert api_client(world_a.staff).get(api_url(recorded)).status_code == 404


# -- ranges (the player seeks)


@pytest.fixture
def staff_a(client, world_a, recorded):
    client.force_login(world_a.staff)
    return client


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=100-199", 100, 199),
        ("bytes=100-", 100, len(AUDIO) - 1),  # open-ended
        ("bytes=-300", len(AUDIO) - 300, len(AUDIO) - 1),  # the last 300 bytes
        ("bytes=0-999999", 0, len(AUDIO) - 1),  # past the end: cut at the end
        ("bytes=-999999", 0, len(AUDIO) - 1),
        ("bytes=0-0", 0, 0),
    ],
)
def test_a_range_is_206_with_that_slice(staff_a, recorded, header, first, last):
    response = staff_a.get(admin_url(recorded), HTTP_RANGE=header)
    assert response.status_code == 206
    assert body(response) == AUDIO[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(AUDIO)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private"
    assert response["Content-Type"] == "audio/wav"


def test_a_range_through_the_api(world_a, recorded):
    response = api_client(world_a.staff).get(api_url(recorded), HTTP_RANGE="bytes=-4")
    assert response.status_code == 206 and body(response) == AUDIO[-4:]


@pytest.mark.parametrize(
    "header", [f"bytes={len(AUDIO)}-", f"bytes={len(AUDIO) + 5}-{len(AUDIO) + 9}", "bytes=-0"]
)
def test_an_unsatisfiable_range_is_416(staff_a, recorded, header):
    response = staff_a.get(admin_url(recorded), HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(AUDIO)}"
    assert response["Accept-Ranges"] == "bytes"
    assert AUDIO not in response.content


@pytest.mark.parametrize(
    "header",
    ["bytes=5-2", f"bytes={len(AUDIO) + 5}-9", "items=0-5", "bytes=0-1,4-5", "bytes=x-", "0-5"],
)
def test_a_range_it_does_not_serve_sends_the_whole_file(staff_a, recorded, header):
    response = staff_a.get(admin_url(recorded), HTTP_RANGE=header)
    assert response.status_code == 200 and body(response) == AUDIO


def test_if_range_cannot_match_so_the_whole_file_is_sent(staff_a, recorded):
    response = staff_a.get(admin_url(recorded), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"x"')
    assert response.status_code == 200 and body(response) == AUDIO


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=2-4", 10, (2, 4)),
        ("BYTES=2-4", 10, (2, 4)),
        ("bytes=9-", 10, (9, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-", 10, None),
        ("bytes=0-5", 0, None),
    ],
)
def test_byte_range(header, size, expected):
    assert byte_range(header, size) == expected


def test_byte_range_past_the_end():
    with pytest.raises(RangeNotSatisfiable):
        byte_range("bytes=10-", 10)


async def test_the_response_streams_under_asgi_block_by_block():
    # Django's default for a synchronous file under ASGI is to read it whole into a list first
    # (and to warn); the recording response reads one block at a time instead.
    data = os.urandom(RecordingResponse.block_size * 3 + 27)
    source = io.BytesIO(data)
    source.seek(10)
    response = RecordingResponse(_Slice(source, len(data) - 20), content_type="audio/wav")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blocks = [block async for block in response]
    assert b"".join(blocks) == data[10:-10]
    assert len(blocks) == 4 and all(len(b) <= RecordingResponse.block_size for b in blocks)


# -- where the admin and the API point


def test_the_admin_player_plays_through_the_view(staff_a, recorded):
    page = staff_a.get(reverse("admin:calls_call_change", args=[recorded.pk])).content.decode()
    assert f'<audio controls preload="none" src="{admin_url(recorded)}"' in page
    assert f'href="{admin_url(recorded)}" download' in page
    assert "/media/" not in page


def test_the_api_recording_url_is_the_api_view(world_a, recorded):
    client = api_client(world_a.staff)
    url = client.get(f"/api/calls/{recorded.pk}/").json()["recording_url"]
    assert url == f"http://testserver{api_url(recorded)}"
    assert body(client.get(url)) == AUDIO


def test_the_api_recording_url_is_null_without_a_recording(world_a):
    call = api_client(world_a.staff).get(f"/api/calls/{world_a.call.pk}/").json()
    assert call["recording_url"] is None


# -- /media/ is never served


def test_no_url_serves_media_root_even_in_debug(tmp_path):
    # urls.py is read once at import, so DEBUG must be on before Django starts: a subprocess.
    script = textwrap.dedent(
        """
        import pathlib, sys
        import django
        django.setup()
        from django.conf import settings
        from django.test import Client
        from django.test.utils import setup_test_environment
        from django.urls import Resolver404, resolve

        assert settings.DEBUG
        path = pathlib.Path(settings.MEDIA_ROOT) / "recordings/2026/11/call-4.wav"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"RIFF-secret-audio")
        url = "/" + settings.MEDIA_URL.strip("/") + "/recordings/2026/11/call-4.wav"
        try:
            match = resolve(url)
        except Resolver404:
            match = None
        setup_test_environment()
        response = Client().get(url)
        content = b"".join(response) if response.streaming else response.content
        print(match is not None, response.status_code, b"secret" in content)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="voiceapp.settings",
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        REDIS_URL="",
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "404", "False"]  # no route, no audio
