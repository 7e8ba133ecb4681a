"""Campaigns in the admin: edited while draft or paused, moved through their statuses only by
`campaigns.actions` (list actions and buttons), with a progress panel that refreshes itself
while the campaign runs (campaigns/progress.js polls the page's JSON feed; no inline script,
so the CSP holds). Attempts are read here, never written.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from campaigns.actions import (
    CampaignRefused,
    cancel_campaign,
    pause_campaign,
    resume_campaign,
    start_campaign,
)
from campaigns.models import Attempt, CallingWindow, Campaign, CampaignStatus, TenantDialing
from campaigns.morning import clamp_warning
from campaigns.progress import COLUMNS, progress
from voiceapp.tenancy import TenantAdminMixin, TenantModelAdmin

MOVES = {
    "start": (start_campaign, "started"),
    "pause": (pause_campaign, "paused"),
    "resume": (resume_campaign, "resumed"),
    "cancel": (cancel_campaign, "cancelled"),
}
BUTTONS = {
    CampaignStatus.DRAFT: ["start", "cancel"],
    CampaignStatus.RUNNING: ["pause", "cancel"],
    CampaignStatus.PAUSED: ["resume", "cancel"],
}


class CallingWindowInline(TenantAdminMixin, admin.TabularInline):
    model = CallingWindow
    extra = 0
    fields = ["weekday", "starts", "ends"]
    verbose_name_plural = (
        "calling windows (each contact's local time; never before 8:00 or after 21:00)"
    )


def _apply(request: HttpRequest, campaign_ids, move: str) -> None:
    act, done = MOVES[move]
    moved, refused = [], []
    for campaign_id in campaign_ids:
        try:
            moved.append(act(campaign_id, by=request.user.get_username()).name)
        except CampaignRefused as refusal:
            refused.append(str(refusal))
    if moved:
        messages.success(request, f"{', '.join(moved)}: {done}.")
    for reason in refused:
        messages.error(request, reason)


def _list_action(move: str):
    def action(modeladmin, request, queryset):
        _apply(request, list(queryset.values_list("pk", flat=True)), move)

    action.__name__ = f"{move}_campaigns"
    return admin.action(description=f"{move.capitalize()} the selected campaigns")(action)


@admin.register(Campaign)
class CampaignAdmin(TenantModelAdmin):
    list_display = ["name", "status", "agent", "contact_list", "starts_at", "status_reason"]
    list_filter = ["status"]
    search_fields = ["name"]
    inlines = [CallingWindowInline]
    actions = [_list_action(m) for m in MOVES]
    readonly_fields = ["status", "status_reason", "progress_panel"]
    fieldsets = [
        (None, {"fields": ["name", "status", "status_reason", "progress_panel"]}),
        ("Who and whom", {"fields": ["agent", "contact_list", "caller_id", "transfer_number"]}),
        ("When", {"fields": ["starts_at", "ends_at"]}),
        (
            "How much",
            {
                "fields": [
                    "max_concurrent_calls",
                    "max_attempts",
                    "retry_no_answer_minutes",
                    "retry_busy_minutes",
                    "retry_failed_minutes",
                    "retry_voicemail_minutes",
                    "ring_seconds",
                ]
            },
        ),
        (
            "What is said",
            {
                "fields": [
                    "disclose_automation",
                    "machine_policy",
                    "voicemail_template",
                    "outcome_fields",
                    "text_before",
                    "text_after",
                ]
            },
        ),
        (
            "Every day (the morning call)",
            {"fields": ["recurrence", "local_time", "weekdays", "affirmations"]},
        ),
    ]

    class Media:
        js = ["campaigns/progress.js"]

    def save_model(self, request: HttpRequest, obj: Campaign, form, change) -> None:
        super().save_model(request, obj, form, change)
        warning = clamp_warning(obj)  # a morning call before 8:00 is placed at 8:00
        if warning:
            messages.warning(request, warning)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Settings change only while nothing is being dialled on them.
        editable = obj is None or obj.status in (CampaignStatus.DRAFT, CampaignStatus.PAUSED)
        return editable and super().has_change_permission(request, obj)

    @admin.display(description="Progress")
    def progress_panel(self, obj: Campaign) -> str:
        if obj.pk is None:
            return "—"
        context = {
            "campaign": obj,
            "progress": progress(obj),
            "columns": COLUMNS,
            "feed": reverse("admin:campaigns_campaign_progress", args=[obj.pk]),
            "buttons": BUTTONS.get(obj.status, []),
            "move_url": reverse("admin:campaigns_campaign_move", args=[obj.pk]),
        }
        return mark_safe(render_to_string("admin/campaigns/progress.html", context))

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/progress/",
                self.admin_site.admin_view(self.progress_feed),
                name="campaigns_campaign_progress",
            ),
            path(
                "<path:object_id>/move/",
                self.admin_site.admin_view(self.move_view),
                name="campaigns_campaign_move",
            ),
        ]
        return own + super().get_urls()

    def _scoped_object(self, request: HttpRequest, object_id: str) -> Campaign:
        campaign = self.get_object(request, unquote(object_id))  # scoped: 404 across tenants
        if campaign is None or not self.has_view_permission(request, campaign):
            raise Http404
        return campaign

    def progress_feed(self, request: HttpRequest, object_id: str) -> JsonResponse:
        return JsonResponse(progress(self._scoped_object(request, object_id)))

    def move_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = self._scoped_object(request, object_id)
        move = request.POST.get("move", "")
        if request.method != "POST" or move not in MOVES:
            return HttpResponse(status=405)
        _apply(request, [campaign.pk], move)
        return redirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))


@admin.register(Attempt)
class AttemptAdmin(TenantModelAdmin):
    """Each dial of each contact: read, never written by hand."""

    list_display = ["campaign", "contact", "number", "status", "result", "due_at", "answered_by"]
    list_filter = ["status", "result"]
    search_fields = ["contact__phone", "contact__name", "campaign__name"]
    list_select_related = ["campaign", "contact"]

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(TenantDialing)
class TenantDialingAdmin(TenantModelAdmin):
    """A tenant's cap is the platform's to set (carrier limits, cost): staff read it."""

    list_display = ["tenant", "max_concurrent_calls"]

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser
