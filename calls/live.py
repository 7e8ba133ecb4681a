"""Opening a live conversation for a Call: the one entry point the carrier side uses."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import JSONField, OuterRef, Subquery

from calls import admission, hooks
from calls import variables as call_variables
from calls.actions import finish_call
from calls.builtin_tools import parse_knowledge
from calls.engine import smart_turn
from calls.engine.agent_settings import AgentSettings
from calls.engine.hearing import VAD_OPTIONS, Hearing
from calls.engine.recorder import CallRecorder
from calls.engine.session import CallSession, CallTransport
from calls.engine.speech import Listener, Speaker
from calls.greeting import GreetingAhead, own_lines
from calls.models import Call, CallEvent, CallStatus, FirstSpeaker
from calls.providers import factory, phrase_cache
from calls.providers.resilience import FallbackLLM
from calls.tools import ToolContext, registry
from calls.usage import UsageMeter, metered
from calls.vad import VoiceActivityDetector
from monitoring import metrics
from voiceapp.db_threads import in_database_thread

log = logging.getLogger(__name__)


@dataclass
class CallPlan:
    """Everything read from the database before the call's audio starts flowing."""

    call_id: int
    agent: AgentSettings
    providers: dict
    tools: list
    context: ToolContext
    notes: list[str]
    # Commands recorded before the stream joined the call's group (the carrier's verdict).
    controls: list[tuple[str, dict]] = field(default_factory=list)
    # The agent's own fixed sentences the phrase cache keeps (calls.greeting.own_lines).
    own_lines: dict[str, str] = field(default_factory=dict)


def _system_prompt(prompt: str, knowledge: dict[str, str], tenant) -> str:
    lines = [prompt.strip()]
    if knowledge:
        lines.append(
            "Facts you may tell callers:\n" + "\n".join(f"- {k}: {v}" for k, v in knowledge.items())
        )
    lines.append(
        f"You are on a phone call for {tenant.name} (time zone {tenant.time_zone}). "
        "Speak in short, plain sentences with no lists or formatting. "
        "Use the tools to act; never invent what a tool would tell you."
    )
    return "\n\n".join(lines)


SETUP_ERROR = "setup_error"


def _rendered_texts(call: Call) -> dict[str, str] | None:
    """The agent's texts with the call's variables filled in; None (and the call ended with
    the outcome "setup_error", an event naming what is missing) when they cannot be."""
    agent = call.agent
    values = call_variables.for_call(call)
    texts = {name: getattr(agent, name) for name in call_variables.RENDERED_FIELDS}
    try:
        call_variables.check(texts.values(), values)  # names every missing one at once
        return {name: call_variables.render(text, values) for name, text in texts.items()}
    except (call_variables.TemplateError, call_variables.MissingVariables) as exc:
        missing = getattr(exc, "names", [])
        log.error(
            "call %s refused at set-up: agent %r: %s",
            call.pk,
            agent.name,
            exc,
            extra={"call_id": call.pk, "missing": missing},
        )
        data = {"setup": str(exc), "agent": agent.name, "missing_variables": missing}
        CallEvent.objects.create(call=call, kind=CallEvent.Kind.ERROR, data=data)
        finish_call(
            call.pk,
            status=CallStatus.FAILED,
            outcome=SETUP_ERROR,
            source="call set-up",
            event_data={"reason": str(exc)},
        )
        return None


@dataclass(frozen=True)
class StreamClaim:
    """The carrier's stream asking for the call: it gets the call only if the call is live, is
    that carrier call and account's, and has no stream yet."""

    call_sid: str
    account_sid: str


class StreamRefused(Exception):
    """The stream does not get the call (the reason, in words)."""


def _load_call(call_id: int) -> Call | None:
    """The call with its agent, tenant and the answering-machine verdict recorded before its
    stream joined the call's group (`amd_verdict`): one query."""
    verdict = CallEvent.objects.filter(call_id=OuterRef("pk"), kind=CallEvent.Kind.AMD)
    verdict = verdict.order_by("-at").values("data")[:1]
    call = (
        Call.objects.select_related("agent", "tenant")
        .annotate(amd_verdict=Subquery(verdict, output_field=JSONField()))
        .filter(pk=call_id)
        .first()
    )
    if call is not None and call.agent is not None and call.agent.tenant_id == call.tenant_id:
        call.agent.tenant = call.tenant  # the same row: the agent's texts need not read it again
    return call


def _refusal(call: Call | None, claim: StreamClaim) -> str:
    if (
        call is None
        or call.is_final
        or call.twilio_call_sid != claim.call_sid
        or call.twilio_account_sid != claim.account_sid
    ):
        return "no such call in progress"
    if call.stream_sid:
        return "the call already has a media stream"
    return ""


def plan_call(
    call_id: int, stream_sid: str = "", *, claim: StreamClaim | None = None
) -> CallPlan | None:
    """Load the call's agent, fill in its texts and build its providers; mark the call in
    progress. None when the call cannot be connected (gone, ended, without an agent, or
    missing a variable its agent's texts need: then it is ended as a "setup_error").

    With `claim`, the stream `stream_sid` becomes the call's one stream, or StreamRefused says
    why not. The database work is two statements on the happy path (the call read with its
    agent, tenant and pending verdict; one UPDATE), on one trip to the database thread."""
    call = _load_call(call_id)
    if claim is not None and (reason := _refusal(call, claim)):
        raise StreamRefused(reason)
    if call is None or call.is_final or call.agent is None:
        return None
    texts = _rendered_texts(call)
    if texts is None:
        return None
    agent, tenant = call.agent, call.tenant
    inbound = call.direction == Call.Direction.INBOUND
    knowledge = parse_knowledge(agent.knowledge)
    context = ToolContext(
        call_id=call.pk,
        tenant_id=tenant.pk,
        agent_id=agent.pk,
        caller=call.from_number if inbound else call.to_number,
        time_zone=tenant.time_zone,
        knowledge=knowledge,
        variables=dict(call.variables or {}),
        direction=call.direction,
    )
    tools = [t.for_call(context) for t in registry.for_agent(agent.tools)]
    notes: list[str] = []
    providers = {}
    for role in ("stt", "llm", "tts"):
        primary, fallback, role_notes = factory.build_pair(
            role, agent, tools=tools, context=context
        )
        # Metered: what the call uses is counted into its state, priced when it ends.
        meter = context.state(UsageMeter)
        providers[role] = (metered(role, primary, meter), metered(role, fallback, meter))
        notes += role_notes
    # The first heartbeat: from here on this process answers for the call (calls.reaper).
    if not call.connect_stream(stream_sid, claim=claim is not None):
        if claim is not None:
            raise StreamRefused("the call already has a media stream")
        return None
    hooks.run_sync_start_hooks(context)
    hints = sorted({w for topic in knowledge for w in topic.split()})
    hints += [h for t in tools for h in t.hints(context) if h not in hints]
    verdict = call.amd_verdict if isinstance(call.amd_verdict, dict) else {}
    controls = (
        [("amd", {"answered_by": verdict["answered_by"]})] if verdict.get("answered_by") else []
    )
    return CallPlan(
        call_id=call.pk,
        agent=AgentSettings(
            greeting=texts["greeting"],
            system_prompt=_system_prompt(texts["system_prompt"], knowledge, tenant),
            language=agent.language,
            voice=agent.voice,
            reprompt=texts["reprompt"],
            goodbye=texts["goodbye"],
            silence_reprompt=float(agent.silence_reprompt_seconds),
            silence_hangup=float(agent.silence_hangup_seconds),
            max_call_seconds=float(agent.max_call_seconds),
            hints=hints,
            first_speaker=FirstSpeaker.AGENT if inbound else agent.outbound_first_speaker,
            voicemail=texts["voicemail_message"],
        ),
        providers=providers,
        tools=tools,
        context=context,
        notes=notes,
        controls=controls,
        own_lines=own_lines(agent, texts),
    )


def session_for(
    plan: CallPlan, transport: CallTransport, *, greet_ahead: bool = False, **options
) -> CallSession:
    """A CallSession wired to the plan's providers, ready to start(). With `greet_ahead`, the
    greeting's synthesis starts now (calls.greeting.GreetingAhead), unless the agent may never
    greet (it waits for an answering machine's verdict first)."""
    # The recorder comes first, so that the providers' fallbacks can report to it.
    recorder = options.pop("recorder", None) or CallRecorder(plan.call_id)

    async def on_fallback(role: str, failed: str, used: str, error) -> None:
        recorder.event("fallback", role=role, failed=failed, used=used, error=str(error))

    stt, stt_fallback = plan.providers["stt"]
    llm, llm_fallback = plan.providers["llm"]
    tts, tts_fallback = plan.providers["tts"]
    tts = phrase_cache.cached(tts, own_lines=plan.own_lines)
    tts_fallback = phrase_cache.cached(tts_fallback, own_lines=plan.own_lines)
    timeout = float(settings.PROVIDER_TIMEOUT_SECONDS)
    hedge = settings.PROVIDER_HEDGE_MS / 1000 or None

    def listener_factory(hearing: Hearing) -> Listener:
        return Listener(
            stt,
            stt_fallback,
            language=plan.agent.language,
            hints=plan.agent.hints,
            on_event=hearing.on_stt_event,
            on_fallback=on_fallback,
            on_switch=hearing.on_stt_switch,
            open_timeout=timeout,
            hedge_after=hedge,
        )

    speaker = Speaker(
        tts,
        tts_fallback,
        voice=plan.agent.voice,
        language=plan.agent.language,
        first_timeout=timeout,
        idle_timeout=timeout,
        hedge_after=hedge,
        on_fallback=on_fallback,
    )
    if greet_ahead and plan.agent.first_speaker != FirstSpeaker.MACHINE_VERDICT:
        speaker = GreetingAhead(speaker, plan.agent.greeting, name=f"greeting-{plan.call_id}")
    session = CallSession(
        call_id=plan.call_id,
        agent=plan.agent,
        listener_factory=listener_factory,
        llm=FallbackLLM(
            llm,
            llm_fallback,
            first_timeout=timeout,
            idle_timeout=timeout,
            hedge_after=hedge,
            on_fallback=on_fallback,
        ),
        speaker=speaker,
        tools=plan.tools,
        tool_context=plan.context,
        turn_model=smart_turn.score_async if settings.SMART_TURN else None,
        transport=transport,
        recorder=recorder,
        **options,
    )
    for note in plan.notes:
        recorder.event("fallback", role="setup", note=note)
    metrics.call_started(plan.call_id, stt=stt.name, llm=llm.name, tts=tts.name)
    return session


async def open_call(
    call_id: int,
    transport: CallTransport,
    *,
    stream_sid: str = "",
    claim: StreamClaim | None = None,
    pending: list[tuple[str, dict]] | None = None,
    **options,
) -> CallSession | None:
    """The call's session, ready to start(); None when the call cannot be connected (see
    plan_call; StreamRefused with `claim`). Raises LinesBusy, the call ended as such, when this
    process is at its cap. Commands recorded for the call before its stream joined the call's
    group go first into `pending` (the transport's queue of commands that came before the
    session)."""
    if not admission.process_load.reserve(call_id):
        await in_database_thread(admission.refuse_for_process, "call set-up")(call_id)
        raise admission.LinesBusy(call_id)
    try:
        plan = await in_database_thread(plan_call, "call set-up")(call_id, stream_sid, claim=claim)
        if plan is None:
            return None
        if pending is not None:
            pending[:0] = plan.controls
        if "vad" not in options:
            # Microseconds: the process's one Silero model is shared (calls.vad).
            options["vad"] = VoiceActivityDetector(sample_rate=8000, **VAD_OPTIONS)
        return session_for(plan, transport, greet_ahead=True, **options)
    finally:
        # The caller starts the session (live_calls counts it) with no await in between.
        admission.process_load.opened(call_id)
