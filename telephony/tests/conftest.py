from __future__ import annotations

import pytest

from calls.providers import factory
from calls.tests.doubles import EnergyVad, ScriptedSTT, ToneTTS

# Providers made of test doubles, registered the way a deployment plugin would.
SCRIPTED_TEXTS: list[str] = []
factory.register("stt", "test_scripted", lambda agent, **_: ScriptedSTT(SCRIPTED_TEXTS))
factory.register("tts", "test_tone", lambda agent, **_: ToneTTS())


@pytest.fixture
def energy_vad(monkeypatch):
    """The consumer's sessions hear any loud frame as speech (the real VAD has its own tests)."""
    monkeypatch.setattr("calls.live.VoiceActivityDetector", lambda **_: EnergyVad())


@pytest.fixture(scope="module")
def twilio_rest():
    """The URL of a local stand-in for Twilio's REST API (see fake_twilio.FakeTwilioRest)."""
    import threading
    from http.server import HTTPServer

    from telephony.tests.fake_twilio import FakeTwilioRest

    server = HTTPServer(("127.0.0.1", 0), FakeTwilioRest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
