from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import path
from django.utils.safestring import mark_safe

from calls.control import send_control_sync
from calls.greeting import prepare_soon
from calls.models import Agent, Call, CallEvent, CallStatus, Turn
from calls.recordings import serve_recording
from calls.tools import registry
from voiceapp.tenancy import TenantInline, TenantModelAdmin


class AgentForm(forms.ModelForm):
    tools = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the agent may do besides talking.",
    )

    class Meta:
        model = Agent
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what is shown)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        registered = [(tool.name, f"{tool.name}: {tool.description}") for tool in registry.all()]
        known = {name for name, _ in registered}
        stale = [
            (name, f"{name} (no longer registered)")
            for name in self.initial.get("tools") or []
            if name not in known
        ]
        self.fields["tools"].choices = registered + stale


@admin.register(Agent)
class AgentAdmin(TenantModelAdmin):
    form = AgentForm
    list_display = ["name", "tenant", "stt_provider", "llm_provider", "tts_provider", "updated_at"]
    list_filter = ["stt_provider", "llm_provider", "tts_provider"]
    search_fields = ["name", "greeting", "system_prompt"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        prepare_soon(obj)  # the greeting synthesized before the next caller needs it

    fieldsets = [
        (
            None,
            {"fields": ["tenant", "name", "language", "greeting", "system_prompt", "knowledge"]},
        ),
        ("Tools", {"fields": ["tools"]}),
        (
            "Providers",
            {
                "fields": [
                    ("stt_provider", "stt_fallback"),
                    ("llm_provider", "llm_fallback"),
                    "llm_model",
                    ("tts_provider", "tts_fallback"),
                    "voice",
                ]
            },
        ),
        (
            "Call handling",
            {
                "fields": [
                    "reprompt",
                    "goodbye",
                    "outbound_first_speaker",
                    "voicemail_message",
                    ("silence_reprompt_seconds", "silence_hangup_seconds"),
                    "max_call_seconds",
                ]
            },
        ),
        ("Audit", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if "tenant" in self.get_exclude(request, obj):
            first = dict(fieldsets[0][1])
            first["fields"] = [f for f in first["fields"] if f != "tenant"]
            fieldsets = [(fieldsets[0][0], first), *fieldsets[1:]]
        return fieldsets


class CallEventInline(TenantInline):
    model = CallEvent
    extra = 0
    can_delete = False
    fields = ["at", "kind", "data"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Call)
class CallAdmin(TenantModelAdmin):
    list_display = [
        "created_at",
        "direction",
        "from_number",
        "to_number",
        "agent",
        "status",
        "outcome",
        "duration_seconds",
    ]
    list_filter = ["direction", "status", "outcome", "created_at"]
    list_select_related = ["agent"]
    search_fields = ["from_number", "to_number", "twilio_call_sid", "turns__text"]
    date_hierarchy = "created_at"
    inlines = [CallEventInline]
    actions = ["hang_up"]
    readonly_fields = [
        "tenant",
        "agent",
        "direction",
        "from_number",
        "to_number",
        "twilio_call_sid",
        "twilio_account_sid",
        "stream_sid",
        "status",
        "status_changed_at",
        "admitted_at",
        "answered_at",
        "ended_at",
        "duration_seconds",
        "outcome",
        "variables",
        "created_at",
        "updated_at",
        "status_timeline",
        "recording_player",
        "conversation",
        "cost_and_usage",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "tenant",
                    "agent",
                    "direction",
                    "from_number",
                    "to_number",
                    "outcome",
                    "variables",
                ]
            },
        ),
        ("Conversation", {"fields": ["recording_player", "conversation"]}),
        (
            "Status",
            {
                "fields": [
                    "status",
                    "status_timeline",
                    "admitted_at",
                    "answered_at",
                    "ended_at",
                    "duration_seconds",
                    "cost_and_usage",
                ]
            },
        ),
        (
            "Carrier",
            {
                "fields": [
                    "twilio_call_sid",
                    "twilio_account_sid",
                    "stream_sid",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    def has_add_permission(self, request):
        return False  # calls come from the carrier

    def has_change_permission(self, request, obj=None):
        return False  # a call's record is evidence; it is read, not edited

    @admin.action(description="Hang up the selected live calls")
    def hang_up(self, request: HttpRequest, queryset) -> None:
        # The queryset is the staff member's tenants' calls only (TenantModelAdmin).
        live = list(queryset.filter(status=CallStatus.IN_PROGRESS).values_list("pk", flat=True))
        for call_id in live:
            send_control_sync(call_id, "hang_up", outcome="staff_hung_up", by=request.user.pk)
        self.message_user(
            request,
            f"Asked {len(live)} live call(s) to hang up." if live else "No live call selected.",
            messages.SUCCESS if live else messages.WARNING,
        )

    @admin.display(description="Cost")
    def cost_and_usage(self, obj: Call) -> str:
        """The call's cost and what it used (calls.usage), once it has ended."""
        if obj.cost is None:
            return "not priced yet"
        used = [f"carrier {obj.usage.get('carrier', {}).get('seconds', 0)} s"]
        for p, r in obj.usage.get("stt", {}).items():
            used.append(f"STT {p} {r['audio_seconds']:.1f} s")
        for p, r in obj.usage.get("llm", {}).items():
            guess = " (estimated)" if r.get("estimated") else ""
            used.append(f"LLM {p} {r['input_tokens']} in / {r['output_tokens']} out tokens{guess}")
        for p, r in obj.usage.get("tts", {}).items():
            used.append(f"TTS {p} {r['characters']} chars")
        return f"{obj.cost} {obj.cost_currency} ({'; '.join(used)})"

    @admin.display(description="Status timeline")
    def status_timeline(self, obj):
        return mark_safe(render_to_string("admin/calls/status_timeline.html", {"call": obj}))

    @admin.display(description="Recording")
    def recording_player(self, obj):
        return mark_safe(render_to_string("admin/calls/recording.html", {"call": obj}))

    def get_urls(self):
        # The player's source: an admin session, the call looked up within the staff member's
        # tenants. Cacheable, so the admin's never_cache does not stop the browser keeping the
        # audio it has (the response says `private`).
        recording = self.admin_site.admin_view(self.recording_view, cacheable=True)
        return [
            path("<path:object_id>/recording/", recording, name="calls_call_recording"),
            *super().get_urls(),
        ]

    def recording_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        call = self.get_object(request, object_id)
        if call is None or not self.has_view_permission(request, call):
            raise Http404("No such call.")
        return serve_recording(request, call)

    @admin.display(description="Transcript")
    def conversation(self, obj):
        turns = list(obj.turns.order_by("index"))
        return mark_safe(
            render_to_string("admin/calls/conversation.html", {"call": obj, "turns": turns})
        )


class ReadOnlyRecordAdmin(TenantModelAdmin):
    """Turns and events are evidence of what happened: searched and read, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Turn)
class TurnAdmin(ReadOnlyRecordAdmin):
    list_display = ["call", "index", "speaker", "text", "interrupted", "latency_ms", "started_at"]
    list_filter = ["speaker", "interrupted"]
    list_select_related = ["call"]
    search_fields = ["text", "call__from_number", "call__to_number"]
    readonly_fields = [f.name for f in Turn._meta.fields]


@admin.register(CallEvent)
class CallEventAdmin(ReadOnlyRecordAdmin):
    list_display = ["at", "call", "kind", "data"]
    list_filter = ["kind"]
    list_select_related = ["call"]
    search_fields = ["call__from_number", "call__to_number", "call__twilio_call_sid"]
    readonly_fields = [f.name for f in CallEvent._meta.fields]
