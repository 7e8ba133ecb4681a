"""The Agent as a live call sees it: its texts, voice, timings and who speaks first."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AgentSettings:
    """What the session needs of an Agent, read once before the call starts."""

    greeting: str
    system_prompt: str
    language: str = "en"
    voice: str = ""
    reprompt: str = "Are you still there?"
    goodbye: str = "Thank you for calling. Goodbye!"
    silence_reprompt: float = 8.0
    silence_hangup: float = 20.0
    max_call_seconds: float = 600.0
    hints: list[str] = field(default_factory=list)
    didnt_catch: str = "Sorry, I didn't catch that. Could you say it again?"
    # Who speaks first (calls.models.FirstSpeaker): "agent" greets at once; "callee" waits for
    # the callee's hello, or `callee_silence` seconds without a word; "machine_verdict" waits
    # for the carrier's answering-machine verdict (control "amd"), at most `verdict_timeout`.
    first_speaker: str = "agent"
    callee_silence: float = 4.0
    verdict_timeout: float = 35.0
    voicemail: str = ""  # what a machine hears ("": hang up on it)
