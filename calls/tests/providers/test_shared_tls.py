"""Building a remote provider for a call builds no TLS context: the process's one is shared."""

from __future__ import annotations

import ssl

from calls.providers import http
from calls.providers.deepgram_stt import DeepgramSTT
from calls.providers.deepgram_tts import DeepgramTTS
from calls.providers.elevenlabs_tts import ElevenLabsTTS
from calls.providers.groq_llm import GroqLLM
from calls.providers.groq_whisper import GroqWhisperSTT
from calls.providers.openai_llm import OpenAICompatibleLLM


def test_a_calls_remote_providers_load_no_certificates(monkeypatch):
    http.tls_context()  # made once, ahead of the first call (calls.warmup)
    loads: list[tuple] = []
    real = ssl.SSLContext.load_verify_locations

    def counted(self, *args, **kwargs):
        loads.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    providers = [
        DeepgramSTT(api_key="k"),
        GroqWhisperSTT(api_key="k"),
        GroqLLM(api_key="k"),
        OpenAICompatibleLLM(model="m", api_key="k"),
        ElevenLabsTTS(api_key="k"),
        DeepgramTTS(api_key="k"),
    ]
    assert len(providers) == 6 and loads == []
