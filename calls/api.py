from rest_framework import serializers

from calls.models import Agent, Call, CallEvent, Turn
from voiceapp.api import TenantScopedReadOnlyViewSet, TenantScopedSerializer, TenantScopedViewSet


class AgentSerializer(TenantScopedSerializer):
    class Meta:
        model = Agent
        fields = "__all__"
        read_only_fields = ["created_at", "updated_at"]


class TurnSerializer(serializers.ModelSerializer):
    class Meta:
        model = Turn
        fields = [
            "index",
            "speaker",
            "text",
            "started_at",
            "ended_at",
            "interrupted",
            "timings",
            "latency_ms",
        ]


class CallEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallEvent
        fields = ["at", "kind", "data"]


class CallSerializer(serializers.ModelSerializer):
    turns = TurnSerializer(many=True, read_only=True)
    events = CallEventSerializer(many=True, read_only=True)
    recording_url = serializers.SerializerMethodField()

    class Meta:
        model = Call
        fields = [
            "id",
            "tenant",
            "agent",
            "direction",
            "from_number",
            "to_number",
            "twilio_call_sid",
            "status",
            "status_history",
            "answered_at",
            "ended_at",
            "duration_seconds",
            "outcome",
            "recording_url",
            "created_at",
            "turns",
            "events",
        ]

    def get_recording_url(self, call: Call) -> str | None:
        return call.recording.url if call.recording else None


class AgentViewSet(TenantScopedViewSet):
    queryset = Agent.objects.all()
    serializer_class = AgentSerializer


class CallViewSet(TenantScopedReadOnlyViewSet):
    queryset = Call.objects.select_related("agent").prefetch_related("turns", "events")
    serializer_class = CallSerializer
