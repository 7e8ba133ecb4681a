"""The voice and status webhooks: signatures, the TwiML, and the call they record."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.test import override_settings
from twilio.request_validator import RequestValidator

from calls.models import Call, CallStatus
from telephony import stream_token

BASE = "https://voice.example.test"


def signed_post(client, path, params, token, *, url=None, signature=None):
    url = url or BASE + path
    sig = RequestValidator(token).compute_signature(url, params) if signature is None else signature
    headers = {"HTTP_X_TWILIO_SIGNATURE": sig} if sig != "" else {}
    return client.post(
        path, urlencode(params), content_type="application/x-www-form-urlencoded", **headers
    )


def voice_params(world, call_sid="CA" + "9" * 32):
    return {
        "AccountSid": world.account.account_sid,
        "CallSid": call_sid,
        "From": "+14155559999",
        "To": world.number.number,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


@pytest.mark.parametrize("path", ["/telephony/twilio/voice/", "/telephony/twilio/status/"])
class TestSignatures:
    def test_valid_signature_is_accepted(self, client, world_a, path):
        params = voice_params(world_a, call_sid=world_a.call.twilio_call_sid)
        response = signed_post(client, path, params, "token-a")
        assert response.status_code == 200

    def test_missing_signature_is_refused(self, client, world_a, path):
        response = signed_post(client, path, voice_params(world_a), "token-a", signature="")
        assert response.status_code == 403

    def test_wrong_signature_is_refused(self, client, world_a, path):
        response = signed_post(client, path, voice_params(world_a), "not-the-token")
        assert response.status_code == 403

    def test_signature_for_another_url_is_refused(self, client, world_a, path):
        other = "/telephony/twilio/status/" if "voice" in path else "/telephony/twilio/voice/"
        response = signed_post(client, path, voice_params(world_a), "token-a", url=BASE + other)
        assert response.status_code == 403

    def test_signature_with_the_request_host_is_refused(self, client, world_a, path):
        # Signed for the Host the request claims, not for PUBLIC_BASE_URL: refused.
        response = signed_post(
            client, path, voice_params(world_a), "token-a", url="http://testserver" + path
        )
        assert response.status_code == 403

    def test_another_tenants_token_is_refused(self, client, world_a, world_b, path):
        response = signed_post(client, path, voice_params(world_a), "token-b")
        assert response.status_code == 403

    def test_changed_parameters_are_refused(self, client, world_a, path):
        params = voice_params(world_a)
        sig = RequestValidator("token-a").compute_signature(BASE + path, params)
        params["To"] = "+14155550199"
        response = signed_post(client, path, params, "token-a", signature=sig)
        assert response.status_code == 403


def test_get_is_not_allowed(client, world_a):
    assert client.get("/telephony/twilio/voice/").status_code == 405


class TestVoiceWebhook:
    def test_creates_the_call_and_connects_the_stream(self, client, world_a):
        response = signed_post(client, "/telephony/twilio/voice/", voice_params(world_a), "token-a")
        assert response["Content-Type"].startswith("text/xml")
        body = response.content.decode()
        call = Call.objects.get(twilio_call_sid="CA" + "9" * 32)
        assert call.tenant == world_a.tenant and call.agent == world_a.agent
        assert call.direction == "inbound" and call.status == CallStatus.RINGING
        assert call.from_number == "+14155559999" and call.to_number == world_a.number.number
        assert '<Stream url="wss://voice.example.test/telephony/twilio/media/">' in body
        assert f'<Parameter name="call_id" value="{call.pk}" />' in body
        assert '<Parameter name="call_sid" value="CA' in body
        assert "?" not in re.search(r'Stream url="([^"]+)"', body).group(1)
        token = re.search(r'name="token" value="([^"]+)"', body).group(1)
        grant = stream_token.verify(token)
        assert grant.call_id == call.pk and grant.account_sid == world_a.account.account_sid

    @override_settings(ALLOWED_HOSTS=["*"])
    def test_stream_url_ignores_the_host_header(self, client, world_a):
        params = voice_params(world_a)
        sig = RequestValidator("token-a").compute_signature(
            BASE + "/telephony/twilio/voice/", params
        )
        response = client.post(
            "/telephony/twilio/voice/",
            urlencode(params),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=sig,
            HTTP_HOST="localhost",
        )
        assert b"wss://voice.example.test/telephony/twilio/media/" in response.content
        assert b"localhost" not in response.content

    def test_repeated_webhook_reuses_the_call(self, client, world_a):
        for _ in range(2):
            signed_post(client, "/telephony/twilio/voice/", voice_params(world_a), "token-a")
        assert Call.objects.filter(twilio_call_sid="CA" + "9" * 32).count() == 1

    def test_unowned_number_gets_a_polite_goodbye(self, client, world_a):
        params = voice_params(world_a) | {"To": "+14155550188"}
        response = signed_post(client, "/telephony/twilio/voice/", params, "token-a")
        assert response.status_code == 200
        assert b"<Say>" in response.content and b"<Hangup />" in response.content
        assert b"<Stream" not in response.content
        assert not Call.objects.filter(twilio_call_sid="CA" + "9" * 32).exists()

    def test_another_accounts_number_is_not_answered(self, client, world_a, world_b):
        params = voice_params(world_a) | {"To": world_b.number.number}
        response = signed_post(client, "/telephony/twilio/voice/", params, "token-a")
        assert b"<Stream" not in response.content

    def test_inactive_tenant_is_not_answered(self, client, world_a):
        world_a.tenant.active = False
        world_a.tenant.save()
        response = signed_post(client, "/telephony/twilio/voice/", voice_params(world_a), "token-a")
        assert b"<Stream" not in response.content and b"<Say>" in response.content

    @override_settings(PUBLIC_BASE_URL="https://other.example.test")
    def test_urls_follow_public_base_url(self, client, world_a):
        params = voice_params(world_a)
        response = signed_post(
            client,
            "/telephony/twilio/voice/",
            params,
            "token-a",
            url="https://other.example.test/telephony/twilio/voice/",
        )
        assert b"wss://other.example.test/telephony/twilio/media/" in response.content


class TestStatusCallback:
    path = "/telephony/twilio/status/"

    def post_status(self, client, world, status, **extra):
        params = {
            "AccountSid": world.account.account_sid,
            "CallSid": world.call.twilio_call_sid,
            "CallStatus": status,
            **extra,
        }
        return signed_post(client, self.path, params, "token-a")

    def test_progress_is_recorded_with_times(self, client, world_a):
        self.post_status(client, world_a, "in-progress")
        self.post_status(client, world_a, "completed", CallDuration="42")
        call = Call.objects.get(pk=world_a.call.pk)
        assert call.status == CallStatus.COMPLETED
        assert call.answered_at is not None and call.ended_at is not None
        assert call.duration_seconds == 42
        assert [h["status"] for h in call.status_history] == ["in-progress", "completed"]

    def test_repeated_callback_changes_nothing(self, client, world_a):
        self.post_status(client, world_a, "in-progress")
        first = Call.objects.get(pk=world_a.call.pk)
        self.post_status(client, world_a, "in-progress")
        again = Call.objects.get(pk=world_a.call.pk)
        assert again.status_history == first.status_history
        assert again.answered_at == first.answered_at

    def test_late_callback_never_moves_a_call_backwards(self, client, world_a):
        self.post_status(client, world_a, "completed", CallDuration="10")
        self.post_status(client, world_a, "in-progress")
        self.post_status(client, world_a, "ringing")
        call = Call.objects.get(pk=world_a.call.pk)
        assert call.status == CallStatus.COMPLETED
        assert [h["status"] for h in call.status_history] == ["completed"]

    def test_a_second_final_status_does_not_replace_the_first(self, client, world_a):
        self.post_status(client, world_a, "busy")
        self.post_status(client, world_a, "completed")
        assert Call.objects.get(pk=world_a.call.pk).status == CallStatus.BUSY

    def test_unknown_call_gets_200(self, client, world_a, caplog):
        params = {
            "AccountSid": world_a.account.account_sid,
            "CallSid": "CA" + "7" * 32,
            "CallStatus": "completed",
        }
        response = signed_post(client, self.path, params, "token-a")
        assert response.status_code == 200
        assert "unknown call" in caplog.text

    def test_another_tenants_call_is_not_touched(self, client, world_a, world_b):
        params = {
            "AccountSid": world_a.account.account_sid,
            "CallSid": world_b.call.twilio_call_sid,
            "CallStatus": "completed",
        }
        signed_post(client, self.path, params, "token-a")
        assert Call.objects.get(pk=world_b.call.pk).status == CallStatus.RINGING
