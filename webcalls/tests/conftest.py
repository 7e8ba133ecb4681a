from __future__ import annotations

import pytest

from calls.tests.doubles import EnergyVad
from telephony.tests import conftest as doubles  # registers the test_scripted / test_tone doubles


@pytest.fixture
def live_agent(world_a, monkeypatch):
    """World A's agent on test doubles: scripted recogniser, tone voice, energy VAD."""
    monkeypatch.setattr("calls.live.VoiceActivityDetector", lambda **_: EnergyVad())
    agent = world_a.agent
    agent.stt_provider, agent.llm_provider, agent.tts_provider = (
        "test_scripted",
        "scripted",
        "test_tone",
    )
    agent.tools = ["lookup_info", "end_call"]
    agent.greeting = "Hello."
    agent.save()
    doubles.SCRIPTED_TEXTS[:] = ["what are your hours", "goodbye"]
    return agent
