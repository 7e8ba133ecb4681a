"""Agents, calls, and what was said and done on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from calls.variables import RENDERED_FIELDS, TemplateError, placeholders
from voiceapp.models import TenantOwned


class Provider(models.TextChoices):
    # speech to text
    DEEPGRAM = "deepgram", "Deepgram (streaming)"
    GROQ_WHISPER = "groq_whisper", "Groq Whisper (per utterance)"
    LOCAL_WHISPER = "local_whisper", "Local Whisper tiny.en (offline)"
    # language
    GROQ = "groq", "Groq"
    OPENAI = "openai", "OpenAI-compatible endpoint"
    SCRIPTED = "scripted", "Scripted brain (offline)"
    # text to speech
    ELEVENLABS = "elevenlabs", "ElevenLabs"
    DEEPGRAM_AURA = "deepgram_aura", "Deepgram Aura"
    PIPER = "piper", "Piper (offline)"
    ESPEAK = "espeak", "eSpeak NG (offline)"


STT_CHOICES = [
    (p.value, p.label) for p in (Provider.DEEPGRAM, Provider.GROQ_WHISPER, Provider.LOCAL_WHISPER)
]
LLM_CHOICES = [(p.value, p.label) for p in (Provider.GROQ, Provider.OPENAI, Provider.SCRIPTED)]
TTS_CHOICES = [
    (p.value, p.label)
    for p in (Provider.ELEVENLABS, Provider.DEEPGRAM_AURA, Provider.PIPER, Provider.ESPEAK)
]


VARIABLES_HELP = (
    " May use per-call variables as {name} (e.g. {first_name} from an outbound call's "
    "variables; every call has {caller_number}, {business_name} and {agent_name}). "
    "A call missing one of them is refused at set-up. Write {{ and }} for literal braces."
)


class FirstSpeaker(models.TextChoices):
    AGENT = "agent", "The agent greets at once"
    CALLEE = "callee", "Wait for the callee's hello (or a few seconds of silence)"
    MACHINE_VERDICT = "machine_verdict", "Wait for the answering-machine verdict"


class Agent(TenantOwned):
    """Who answers: a persona, its prompt and voice, and a provider (with a fallback) per role."""

    name = models.CharField(max_length=120)
    greeting = models.TextField(
        default="Hello! How can I help you today?", help_text="The first line." + VARIABLES_HELP
    )
    system_prompt = models.TextField(
        default="You are a friendly, concise phone assistant. Answer in one or two short sentences.",  # noqa: E501
        help_text="Who the agent is and how it behaves." + VARIABLES_HELP,
    )
    knowledge = models.TextField(
        blank=True,
        help_text="Facts the agent may tell callers, one per line as 'topic: answer' "
        "(e.g. 'hours: We are open 7am to 7pm every day').",
    )
    language = models.CharField(max_length=16, default="en")
    voice = models.CharField(
        max_length=120, blank=True, help_text="The TTS provider's voice id (blank: its default)."
    )
    stt_provider = models.CharField(
        "speech to text", max_length=20, choices=STT_CHOICES, default=Provider.LOCAL_WHISPER
    )
    stt_fallback = models.CharField("STT fallback", max_length=20, choices=STT_CHOICES, blank=True)
    llm_provider = models.CharField(
        "language model", max_length=20, choices=LLM_CHOICES, default=Provider.SCRIPTED
    )
    llm_fallback = models.CharField("LLM fallback", max_length=20, choices=LLM_CHOICES, blank=True)
    llm_model = models.CharField(
        max_length=120, blank=True, help_text="Blank: the provider's model from the settings."
    )
    tts_provider = models.CharField(
        "text to speech", max_length=20, choices=TTS_CHOICES, default=Provider.PIPER
    )
    tts_fallback = models.CharField("TTS fallback", max_length=20, choices=TTS_CHOICES, blank=True)
    tools = models.JSONField(
        default=list, blank=True, help_text="Names of the registered tools this agent may use."
    )
    reprompt = models.CharField(max_length=200, default="Are you still there?")
    goodbye = models.CharField(max_length=200, default="Thank you for calling. Goodbye!")
    outbound_first_speaker = models.CharField(
        max_length=20,
        choices=FirstSpeaker.choices,
        default=FirstSpeaker.CALLEE,
        help_text="On calls the agent places: who speaks first. Inbound calls are always "
        "greeted at once.",
    )
    voicemail_message = models.TextField(
        blank=True,
        help_text="What to leave on an answering machine (outbound calls waiting for the "
        "machine verdict). Blank: hang up on machines." + VARIABLES_HELP,
    )
    silence_reprompt_seconds = models.PositiveSmallIntegerField(default=8)
    silence_hangup_seconds = models.PositiveSmallIntegerField(default=20)
    max_call_seconds = models.PositiveIntegerField(default=600)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="agent_name_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Malformed placeholders would refuse every call; missing variables are per call.
        errors = {}
        for name in RENDERED_FIELDS:
            try:
                placeholders(getattr(self, name))
            except TemplateError as exc:
                errors[name] = str(exc)
        if errors:
            raise ValidationError(errors)


class CallStatus(models.TextChoices):
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


# A call only moves forward: a late or repeated callback never takes it back.
STATUS_RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    CallStatus.COMPLETED: 4,
    CallStatus.BUSY: 4,
    CallStatus.FAILED: 4,
    CallStatus.NO_ANSWER: 4,
    CallStatus.CANCELED: 4,
}
FINAL_STATUSES = frozenset(s for s, rank in STATUS_RANK.items() if rank == 4)
# What Call.apply_status reads and writes.
_STATUS_FIELDS = (
    "status",
    "status_changed_at",
    "status_history",
    "answered_at",
    "ended_at",
    "duration_seconds",
)


class Call(TenantOwned):
    """One phone call, inbound or outbound, from the first webhook to its final status."""

    class Direction(models.TextChoices):
        INBOUND = "inbound"
        OUTBOUND = "outbound"

    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    twilio_call_sid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    twilio_account_sid = models.CharField(max_length=64, blank=True)
    stream_sid = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.QUEUED)
    status_changed_at = models.DateTimeField(default=timezone.now)
    status_history = models.JSONField(default=list, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=40, blank=True)
    # Per-call values for the agent's {placeholders} (an outbound contact's first name, ...).
    variables = models.JSONField(default=dict, blank=True)
    # Touched every CALL_HEARTBEAT_SECONDS by the process holding the call's live session: a
    # call in progress whose heartbeat stops had its server die under it (calls.reaper).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the call was given one of its tenant's lines (calls.admission; only while the tenant
    # has a cap): it holds it until it ends, or its heartbeat (before its audio starts, a short
    # hold) runs out.
    admitted_at = models.DateTimeField(null=True, blank=True)
    recording = models.FileField(upload_to="recordings/%Y/%m/", blank=True)
    # What the call used, per role and provider (calls.usage), and its price at the tenant's
    # rates when it ended (analytics.pricing): kept, so a later price change rewrites no history.
    usage = models.JSONField(default=dict, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    cost_currency = models.CharField(max_length=3, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"]),
            # The reaper's scan: calls not yet final, by status.
            models.Index(
                fields=["status", "status_changed_at"],
                name="call_open_status",
                condition=models.Q(status__in=["queued", "initiated", "ringing", "in-progress"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.from_number} → {self.to_number} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def apply_status(
        self,
        status: str,
        *,
        at: datetime | None = None,
        source: str = "",
        duration: int | None = None,
    ) -> bool:
        """Move the call to `status` if that is forward; record the change. Returns whether it
        changed. Locks the row, so concurrent callbacks apply one after the other."""
        at = at or timezone.now()
        with transaction.atomic():
            call = (
                Call.objects.select_for_update().only(*_STATUS_FIELDS, "updated_at").get(pk=self.pk)
            )
            if STATUS_RANK.get(status, -1) <= STATUS_RANK[call.status]:
                return False
            call.status = status
            call.status_changed_at = at
            call.status_history = [
                *call.status_history,
                {"status": status, "at": at.isoformat(), "source": source},
            ]
            fields = ["status", "status_changed_at", "status_history", "updated_at"]
            if status == CallStatus.IN_PROGRESS and call.answered_at is None:
                call.answered_at = at
                fields.append("answered_at")
            if status in FINAL_STATUSES:
                call.ended_at = call.ended_at or at
                if duration is None and call.answered_at:
                    duration = int((call.ended_at - call.answered_at).total_seconds())
                call.duration_seconds = duration if duration is not None else call.duration_seconds
                fields += ["ended_at", "duration_seconds"]
            call.save(update_fields=fields)
        for name in _STATUS_FIELDS:
            setattr(self, name, getattr(call, name))
        return True

    def connect_stream(
        self, stream_sid: str = "", *, claim: bool = False, source: str = "media stream"
    ) -> bool:
        """This process holds the call from now on: its first heartbeat, the stream's sid and
        the status in progress (forward only and in the history, as apply_status would).

        One UPDATE, conditional on the status this object was read with (a status callback
        that lands in between makes it read again and retry), instead of a locking
        transaction: opening a call is on the caller's wait for the greeting. With `claim`,
        the stream sid is set only where the call has none yet, so of two streams presenting
        the same token exactly one gets the call. False when it did not (another stream holds
        the call, or it ended meanwhile)."""
        for _ in range(5):
            if self.is_final:
                return False
            now = timezone.now()
            fields: dict[str, Any] = {"heartbeat_at": now}
            if stream_sid:
                fields["stream_sid"] = stream_sid
            if STATUS_RANK[CallStatus.IN_PROGRESS] > STATUS_RANK[self.status]:
                fields.update(
                    status=CallStatus.IN_PROGRESS,
                    status_changed_at=now,
                    status_history=[
                        *self.status_history,
                        {"status": CallStatus.IN_PROGRESS, "at": now.isoformat(), "source": source},
                    ],
                    answered_at=self.answered_at or now,
                    updated_at=now,
                )
            rows = Call.objects.filter(pk=self.pk, status=self.status)
            if claim:
                rows = rows.filter(stream_sid="")
            if rows.update(**fields):
                for name, value in fields.items():
                    setattr(self, name, value)
                return True
            fresh = (
                Call.objects.filter(pk=self.pk)
                .values("status", "status_history", "stream_sid", "answered_at")
                .first()
            )
            if fresh is None or (claim and fresh["stream_sid"]):
                return False
            for name, value in fresh.items():
                setattr(self, name, value)
        return False


class Turn(models.Model):
    """One line of the conversation, with the timings that make the caller's experience."""

    tenant_path = "call__tenant"

    class Speaker(models.TextChoices):
        CALLER = "caller"
        AGENT = "agent"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveIntegerField()
    speaker = models.CharField(max_length=8, choices=Speaker.choices)
    text = models.TextField(blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    interrupted = models.BooleanField(default=False)
    # Milliseconds from the caller's end of speech: stt_final, llm_first_token,
    # tts_first_audio, first_frame_sent (agent turns answering a caller).
    timings = models.JSONField(default=dict, blank=True)
    latency_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="End of caller speech to the first audio frame sent."
    )

    class Meta:
        ordering = ["call", "index"]
        constraints = [models.UniqueConstraint(fields=["call", "index"], name="turn_index_unique")]

    def __str__(self) -> str:
        return f"{self.speaker}: {self.text[:60]}"

    def timing_parts(self) -> list[str]:
        """The timings as people read them, in the order they happened ("endpoint 260 ms",
        ...), then what ended the turn ("turn_signal model"). The database keeps JSON keys in
        an order of its own."""
        marks = sorted((v, k) for k, v in self.timings.items() if type(v) is int)
        notes = sorted((k, v) for k, v in self.timings.items() if type(v) is not int)
        return [f"{k} {v} ms" for v, k in marks] + [f"{k} {v}" for k, v in notes]


class CallEvent(models.Model):
    """Something that happened on a call: a tool call, a barge-in, a fallback, a digit."""

    tenant_path = "call__tenant"

    class Kind(models.TextChoices):
        STARTED = "started"
        BARGE_IN = "barge_in"
        TOOL_CALL = "tool_call"
        FALLBACK = "fallback"
        DTMF = "dtmf"
        SILENCE = "silence"
        ENDED = "ended"
        ERROR = "error"
        AMD = "amd"  # the carrier's answering-machine verdict
        CONTROL = "control"  # a staff or webhook command delivered to the live session
        UNHEARD = "unheard"  # caller speech that became no text (its length and why)
        BACKCHANNEL = "backchannel"  # "mhm" while the agent spoke: not an interruption
        TRANSFER = "transfer"  # the call handed to a person's number

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["call", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.at:%H:%M:%S}"
