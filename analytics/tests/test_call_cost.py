"""A call records what it used of each provider, and its cost at its tenant's prices."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from analytics.hooks import record_usage
from analytics.models import TenantPricing
from analytics.pricing import cost_of, pricing_for
from calls import live
from calls.models import Agent, Call
from calls.providers.base import LLM, Finished, TextDelta
from calls.providers.resilience import reset_breakers
from calls.tests.conftest import speak, until
from calls.tests.doubles import EnergyVad, RecordingTransport, ScriptedSTT, ToneTTS
from calls.usage import MeteredLLM, UsageMeter, estimate_tokens
from voiceapp.models import Membership, Tenant

pytestmark = pytest.mark.django_db(transaction=True)


class ByteCountingSTT(ScriptedSTT):
    """The scripted recogniser, counting the bytes of audio it is sent."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__(texts, name="fake-stt")
        self.bytes = 0

    async def open(self, *, language: str, hints=None):
        session = await super().open(language=language, hints=hints)
        send = session.send_audio

        async def counting(audio: bytes) -> None:
            self.bytes += len(audio)
            await send(audio)

        session.send_audio = counting
        return session


class ReportingLLM(LLM):
    """Answers every request with one sentence and a usage report of known size."""

    name = "fake-llm"

    def __init__(self, report: dict | None) -> None:
        self.report = report
        self.requests = 0

    async def stream(self, messages, tools):
        self.requests += 1
        yield TextDelta("We open at nine.")
        yield Finished(usage=self.report or {})


@pytest.fixture
def shop():
    reset_breakers()
    tenant = Tenant.objects.create(name="Costly Coffee", slug="costly")
    TenantPricing.objects.create(
        tenant=tenant,
        currency="EUR",
        carrier_per_minute=Decimal("0.01"),
        stt_per_minute=Decimal("0.006"),
        llm_per_million_input=Decimal("1.00"),
        llm_per_million_output=Decimal("2.00"),
        tts_per_thousand_chars=Decimal("0.30"),
    )
    agent = Agent.objects.create(tenant=tenant, name="Barista", greeting="Hi.", tools=[])
    call = Call.objects.create(
        tenant=tenant,
        agent=agent,
        direction="inbound",
        from_number="+14155550000",
        to_number="+14155550101",
        twilio_call_sid="CA" + "7" * 32,
    )
    yield call
    reset_breakers()


async def test_a_call_through_the_live_wiring_records_its_usage_and_cost(shop, monkeypatch):
    stt, llm, tts = ByteCountingSTT(["when do you open"]), ReportingLLM(None), ToneTTS()
    llm.report = {"prompt_tokens": 1000, "completion_tokens": 200}
    doubles = {"stt": stt, "llm": llm, "tts": tts}
    monkeypatch.setattr(
        live.factory, "build_pair", lambda role, agent, **kw: (doubles[role], None, [])
    )
    plan = await sync_to_async(live.plan_call)(shop.pk)
    # The call was answered 90 s ago: two started minutes at the carrier.
    answered = timezone.now() - timedelta(seconds=90)
    await Call.objects.filter(pk=shop.pk).aupdate(answered_at=answered)
    transport = RecordingTransport()
    session = live.session_for(plan, transport, vad=EnergyVad())
    transport.session = session
    await session.start()
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: "We open at nine." in tts.spoken)
    await until(lambda: not session.agent_active)
    await session.close("caller_hung_up")

    call = await Call.objects.aget(pk=shop.pk)
    seconds = call.usage["carrier"]["seconds"]
    assert 90 <= seconds < 100
    assert call.usage["stt"] == {"fake-stt": {"audio_seconds": round(stt.bytes / 8000, 3)}}
    assert stt.bytes > 0
    assert call.usage["llm"] == {
        "fake-llm": {
            "input_tokens": 1000 * llm.requests,
            "output_tokens": 200 * llm.requests,
            "estimated": False,
        }
    }
    characters = sum(len(t) for t in tts.spoken)
    assert call.usage["tts"] == {"tone": {"characters": characters}}
    expected = (
        2 * Decimal("0.01")
        + Decimal(str(round(stt.bytes / 8000, 3))) / 60 * Decimal("0.006")
        + Decimal(1000 * llm.requests) / 10**6 * Decimal("1.00")
        + Decimal(200 * llm.requests) / 10**6 * Decimal("2.00")
        + Decimal(characters) / 1000 * Decimal("0.30")
    ).quantize(Decimal("0.0001"))
    assert call.cost == expected
    assert call.cost_currency == "EUR"


async def test_without_a_usage_report_the_tokens_are_estimated_and_marked():
    meter = UsageMeter()
    llm = MeteredLLM(ReportingLLM(None), meter)
    messages = [{"role": "user", "content": "when do you open"}]
    events = [e async for e in llm.stream(messages, [])]
    assert isinstance(events[-1], Finished)
    row = meter.llm["fake-llm"]
    assert row["estimated"] is True
    assert row["output_tokens"] == estimate_tokens("We open at nine.") == 4
    assert row["input_tokens"] > 0


def test_offline_providers_cost_nothing_and_defaults_come_from_settings(settings):
    settings.CALL_PRICES = {**settings.CALL_PRICES, "currency": "USD", "stt_per_minute": "0.5"}
    tenant = Tenant.objects.create(name="No prices", slug="no-prices")
    pricing = pricing_for(tenant.pk)
    assert pricing.pk is None and pricing.currency_code == "USD"
    offline = {
        "stt": {"local_whisper": {"audio_seconds": 600.0}},
        "llm": {"scripted": {"input_tokens": 10**6, "output_tokens": 10**6, "estimated": True}},
        "tts": {"piper": {"characters": 10**5}},
    }
    assert cost_of(offline, pricing) == Decimal("0.0000")
    assert cost_of({"stt": {"deepgram": {"audio_seconds": 120.0}}}, pricing) == Decimal("1.0000")


def test_recording_usage_twice_overwrites_and_never_adds(shop):
    meter = UsageMeter()
    meter.add_characters("elevenlabs", 1000)
    Call.objects.filter(pk=shop.pk).update(duration_seconds=61)
    first = record_usage(shop.pk, meter)
    second = record_usage(shop.pk, meter)
    assert first.cost == second.cost == Decimal("0.3200")  # 2 minutes + 1000 characters
    assert Call.objects.get(pk=shop.pk).usage["tts"] == {"elevenlabs": {"characters": 1000}}


def test_a_call_not_through_the_carrier_has_no_carrier_minutes(shop):
    Call.objects.filter(pk=shop.pk).update(twilio_call_sid=None, duration_seconds=300)
    call = record_usage(shop.pk, UsageMeter())
    assert call.usage["carrier"] == {"seconds": 0} and call.cost == Decimal("0.0000")


def test_the_call_page_shows_the_cost_and_what_was_used(client, shop):
    meter = UsageMeter()
    meter.add_tokens("groq", 1500, 300, estimated=True)
    Call.objects.filter(pk=shop.pk).update(duration_seconds=30)
    record_usage(shop.pk, meter)
    staff = get_user_model().objects.create_user("barista", password="pw", is_staff=True)
    Membership.objects.create(user=staff, tenant=shop.tenant)
    client.force_login(staff)
    body = client.get(f"/admin/calls/call/{shop.pk}/change/").content.decode()
    # 1 minute at 0.01 + 1500 tokens at 1.00/M + 300 at 2.00/M = 0.0121 EUR
    assert "0.0121 EUR" in body
    assert "LLM groq 1500 in / 300 out tokens (estimated)" in body


def test_a_tenants_prices_are_seen_by_its_staff_only(client, shop, world_b):
    client.force_login(world_b.staff)
    response = client.get("/admin/analytics/tenantpricing/")
    assert response.status_code == 200
    assert "Costly Coffee" not in response.content.decode()
    pricing = TenantPricing.objects.get(tenant=shop.tenant)
    response = client.get(f"/admin/analytics/tenantpricing/{pricing.pk}/change/")
    assert response.status_code in (302, 404)
