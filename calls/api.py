from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation

from calls.greeting import prepare_soon
from calls.models import Agent, Call, CallEvent, Turn
from calls.recordings import serve_recording
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
        """The recording's URL in this API (token or session auth), absolute."""
        if not call.recording:
            return None
        path = reverse("call-recording", args=[call.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class AgentViewSet(TenantScopedViewSet):
    queryset = Agent.objects.all()
    serializer_class = AgentSerializer

    def perform_create(self, serializer) -> None:
        super().perform_create(serializer)
        prepare_soon(serializer.instance)  # the greeting ready before the first caller

    def perform_update(self, serializer) -> None:
        super().perform_update(serializer)
        prepare_soon(serializer.instance)


class AnyAccept(BaseContentNegotiation):
    """The recording is audio whatever the client accepts (a player sends `audio/*`), and no
    renderer is involved: the view answers with the file itself."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class CallViewSet(TenantScopedReadOnlyViewSet):
    queryset = Call.objects.select_related("agent").prefetch_related("turns", "events")
    serializer_class = CallSerializer

    @extend_schema(
        description="The call's recording (WAV), streamed; one HTTP byte range may be asked. "
        "From object storage, a redirect to a short-lived presigned URL instead.",
        responses={
            (200, "audio/wav"): OpenApiResponse(OpenApiTypes.BINARY, description="The file"),
            (206, "audio/wav"): OpenApiResponse(OpenApiTypes.BINARY, description="One range"),
            302: OpenApiResponse(description="To the file in object storage, briefly valid"),
            404: OpenApiResponse(description="No such call, or no recording"),
            416: OpenApiResponse(description="The range starts past the end"),
        },
    )
    @action(detail=True, methods=["get"], content_negotiation_class=AnyAccept)
    def recording(self, request, pk=None) -> HttpResponse:
        return serve_recording(request, self.get_object())
