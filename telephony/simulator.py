"""A caller as Twilio presents one: the signed voice webhook, then the signed media stream.

It streams the caller's audio in real time (20 ms frames, silence between lines, as a phone
line does), plays the agent's audio on a simulated clock, echoes each mark when playback
reaches it, honours `clear`, and times every reply. Used by `manage.py simulate_call`, the
end-to-end tests and the latency benchmark.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.etree import ElementTree

import websockets
from twilio.request_validator import RequestValidator

from calls.providers.http import client as http_client

FRAME = 160  # 20 ms of mu-law at 8 kHz
FRAME_SECONDS = 0.02
SILENCE = b"\xff" * FRAME


@dataclass
class Reply:
    """What the agent said after one caller line (or the greeting)."""

    audio: bytearray = field(default_factory=bytearray)
    first_frame_at: float | None = None
    last_frame_at: float | None = None
    latency: float | None = None  # first agent frame after the caller's last frame
    text: str = ""


@dataclass
class Report:
    call_sid: str
    greeting: Reply
    replies: list[Reply]
    closed_by_server: bool = False
    close_code: int | None = None
    marks_echoed: int = 0
    clears: int = 0
    frames_received: int = 0
    late_frames: int = 0  # agent audio that arrived after the audio before it had played
    stream_opened_at: float | None = None  # the stream's handshake done (time.monotonic())
    # The handshake's response headers, names in lower case: behind a balancer, which process
    # holds the call.
    stream_headers: dict[str, str] = field(default_factory=dict)


class CallRefused(Exception):
    pass


class SimulatedCaller:
    def __init__(
        self,
        *,
        server: str,
        public_base_url: str,
        auth_token: str,
        account_sid: str,
        to_number: str,
        from_number: str = "+14155550123",
        settle: float = 0.8,
        gap: float | None = None,
        reply_timeout: float = 20.0,
        answered_call_id: int | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.public_base_url = public_base_url.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.account_sid = account_sid
        self.to_number, self.from_number = to_number, from_number
        self.call_sid = "CA" + uuid.uuid4().hex
        # Each line starts `gap` seconds after the agent's audio stops playing (people answer
        # within 0.2-0.3 s); without a gap, after `settle` seconds with nothing received.
        self.settle = settle
        self.gap = gap
        self.reply_timeout = reply_timeout
        # An outbound call the server placed (Call id): the callee answers, Twilio asks the
        # outbound webhook for the TwiML instead of the voice webhook.
        self.answered_call_id = answered_call_id
        self.report: Report | None = None  # the call's report, readable while it runs
        # playback state
        self._play_end = 0.0
        self._pending_marks: list[tuple[float, str]] = []
        self._outgoing: list[bytes] = []
        self._current: Reply = Reply()
        self._last_line_end: float | None = None
        self._line_sent_at: float | None = None
        self._last_received = 0.0
        self._closed = asyncio.Event()
        self._we_closed = False

    # -- the voice webhook
    async def _voice_webhook(self) -> tuple[str, dict[str, str]]:
        path = "/telephony/twilio/voice/"
        params = {
            "AccountSid": self.account_sid,
            "CallSid": self.call_sid,
            "From": self.from_number,
            "To": self.to_number,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        if self.answered_call_id is not None:
            path = f"/telephony/twilio/outbound/{self.answered_call_id}/"
            params.update(CallStatus="in-progress", Direction="outbound-api")
        signature = self.validator.compute_signature(self.public_base_url + path, params)
        # On the process's one TLS context: building one per call (~55 ms of CPU here) starved
        # this simulated Twilio's own loop at 200 calls in 2 s, its webhooks and frames late.
        async with http_client(timeout=10) as http:
            response = await http.post(
                self.server + path, data=params, headers={"X-Twilio-Signature": signature}
            )
        if response.status_code != 200:
            raise CallRefused(
                f"voice webhook answered {response.status_code}: {response.text[:200]}"
            )
        root = ElementTree.fromstring(response.text)
        stream = root.find("./Connect/Stream")
        if stream is None:
            raise CallRefused(f"the call was not connected to a stream: {response.text[:300]}")
        parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        return stream.get("url"), parameters

    # -- the call
    async def run(self, lines: list[bytes], *, barge_in_after: float | None = None) -> Report:
        """Call, wait for the greeting, say each line (mu-law 8 kHz) after the agent's previous
        reply, then hang up (unless the agent did). With `barge_in_after`, the first line is
        said that many seconds into the greeting instead of after it."""
        stream_url, parameters = await self._voice_webhook()
        path = urlsplit(stream_url).path
        ws_base = "ws" + self.server[len("http") :]
        headers = {"X-Twilio-Signature": self.validator.compute_signature(stream_url, {})}
        greeting = self._current
        report = self.report = Report(self.call_sid, greeting, [])
        async with websockets.connect(
            ws_base + path, additional_headers=headers, max_size=2**20
        ) as ws:
            report.stream_opened_at = time.monotonic()
            report.stream_headers = {k.lower(): v for k, v in ws.response.headers.raw_items()}
            stream_sid = "MZ" + uuid.uuid4().hex
            await ws.send(
                json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            )
            await ws.send(json.dumps(self._start(stream_sid, parameters)))
            receiver = asyncio.create_task(self._receive(ws, report))
            sender = asyncio.create_task(self._send(ws, stream_sid, report))
            try:
                await self._script(lines, report, barge_in_after)
                if not self._closed.is_set():
                    self._we_closed = True
                    await ws.send(
                        json.dumps(
                            {
                                "event": "stop",
                                "streamSid": stream_sid,
                                "stop": {"callSid": self.call_sid},
                            }
                        )
                    )
                    await ws.close()
            finally:
                sender.cancel()
                if not self._closed.is_set():  # run() ended early (cancelled or raised)
                    receiver.cancel()
                await asyncio.gather(sender, receiver, return_exceptions=True)
        return report

    def _start(self, stream_sid: str, parameters: dict[str, str]) -> dict:
        return {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "streamSid": stream_sid,
                "accountSid": self.account_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }

    async def _script(
        self, lines: list[bytes], report: Report, barge_in_after: float | None
    ) -> None:
        if barge_in_after is not None and lines:
            await self._wait(lambda: report.greeting.first_frame_at is not None)
            await asyncio.sleep(barge_in_after)
        else:
            await self._wait_idle()
        for n, line in enumerate(lines):
            if self._closed.is_set():
                return
            if n or barge_in_after is None:
                await self._wait_idle()
            self._outgoing.extend(
                line[i : i + FRAME].ljust(FRAME, b"\xff") for i in range(0, len(line), FRAME)
            )
            await self._wait(lambda: not self._outgoing)
            # Audio that came while the caller was talking belongs to what they talked over;
            # the reply is what comes after they stopped.
            reply = Reply()
            self._current = reply
            report.replies.append(reply)
            self._last_line_end = self._line_sent_at
        await self._wait_idle(require_reply=True)

    async def _wait(self, condition, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.reply_timeout)
        while not condition() and not self._closed.is_set():
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.01)

    async def _wait_idle(self, require_reply: bool = True) -> None:
        """Until the agent has answered and then been quiet for `settle` seconds."""
        reply = self._current

        quiet = self.settle if self.gap is None else self.gap

        def idle() -> bool:
            now = time.monotonic()
            answered = reply.first_frame_at is not None or not require_reply
            return (
                answered
                and self._play_end + (self.gap or 0.0) <= now
                and not self._pending_marks
                and now - self._last_received >= quiet
            )

        await self._wait(idle)

    # -- the wire
    async def _send(self, ws, stream_sid: str, report: Report) -> None:
        start = time.monotonic()
        n = 0
        while True:
            n += 1
            line_frame = bool(self._outgoing)
            frame = self._outgoing.pop(0) if line_frame else SILENCE
            payload = base64.b64encode(frame).decode()
            await ws.send(
                json.dumps(
                    {
                        "event": "media",
                        "sequenceNumber": str(n + 1),
                        "streamSid": stream_sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(n),
                            "timestamp": str(n * 20),
                            "payload": payload,
                        },
                    }
                )
            )
            now = time.monotonic()
            if line_frame and not self._outgoing:
                self._line_sent_at = now  # the caller's last frame of the line is on the wire
            while self._pending_marks and self._pending_marks[0][0] <= now:
                _, name = self._pending_marks.pop(0)
                await ws.send(
                    json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})
                )
                report.marks_echoed += 1
            await asyncio.sleep(max(0.0, start + n * FRAME_SECONDS - time.monotonic()))

    async def _receive(self, ws, report: Report) -> None:
        try:
            async for raw in ws:
                message = json.loads(raw)
                now = time.monotonic()
                self._last_received = now
                event = message.get("event")
                if event == "media":
                    audio = base64.b64decode(message["media"]["payload"])
                    report.frames_received += 1
                    if self._play_end < now:
                        if (
                            self._current.first_frame_at is not None
                            and self._play_end > 0
                            and now - self._play_end > 0.005
                        ):
                            report.late_frames += 1
                        self._play_end = now
                    self._play_end += len(audio) / 8000
                    reply = self._current
                    if reply.first_frame_at is None:
                        reply.first_frame_at = now
                        if self._last_line_end is not None and reply is not report.greeting:
                            reply.latency = now - self._last_line_end
                    reply.last_frame_at = now
                    reply.audio += audio
                elif event == "mark":
                    self._pending_marks.append((self._play_end, message["mark"]["name"]))
                elif event == "clear":
                    report.clears += 1
                    self._play_end = now
                    self._pending_marks = [(now, name) for _, name in self._pending_marks]
        except websockets.ConnectionClosed:
            pass
        finally:
            report.closed_by_server = not self._we_closed
            report.close_code = ws.close_code
            self._closed.set()


async def transcribe_replies(report: Report, hints: list[str] | None = None) -> None:
    """Fill in each reply's text with the local recogniser."""
    from calls.audio import convert_audio
    from calls.providers.base import MULAW_8K, PCM16_16K
    from calls.providers.local_stt import transcribe

    for reply in [report.greeting, *report.replies]:
        if reply.audio:
            reply.text = await transcribe(
                convert_audio(bytes(reply.audio), MULAW_8K, PCM16_16K), hints=hints
            )


def speech(text: str) -> bytes:
    """`text` spoken by the local voice, as the caller's mu-law 8 kHz audio."""
    from calls.audio import convert_audio
    from calls.providers.base import MULAW_8K, AudioFormat
    from calls.providers.local_tts import piper_pcm16

    pcm, rate = piper_pcm16(text)
    return convert_audio(pcm, AudioFormat("pcm16", rate), MULAW_8K)


def wav_to_mulaw(path: str) -> bytes:
    """A WAV file (any rate, mono or stereo PCM16) as mu-law 8 kHz."""
    import wave

    import numpy as np

    from calls.audio import convert_audio
    from calls.providers.base import MULAW_8K, AudioFormat

    with wave.open(path, "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
        frames = wav.readframes(wav.getnframes())
        channels, rate = wav.getnchannels(), wav.getframerate()
    if channels > 1:
        frames = (
            np.frombuffer(frames, dtype="<i2")
            .reshape(-1, channels)
            .mean(axis=1)
            .astype("<i2")
            .tobytes()
        )
    return convert_audio(frames, AudioFormat("pcm16", rate), MULAW_8K)
