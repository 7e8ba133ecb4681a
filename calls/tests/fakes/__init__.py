"""Local fake provider servers (127.0.0.1, ephemeral ports) that record what they receive."""

from calls.tests.fakes.chat import FakeChatCompletions
from calls.tests.fakes.deepgram_listen import FakeDeepgramListen
from calls.tests.fakes.http import HTTPFake, Mode, RecordedRequest, closed_port_url
from calls.tests.fakes.tts import FakeDeepgramSpeak, FakeElevenLabs
from calls.tests.fakes.whisper import FakeWhisper

__all__ = [
    "FakeChatCompletions",
    "FakeDeepgramListen",
    "FakeDeepgramSpeak",
    "FakeElevenLabs",
    "FakeWhisper",
    "HTTPFake",
    "Mode",
    "RecordedRequest",
    "closed_port_url",
]
