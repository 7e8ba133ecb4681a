"""Orders in the admin: read, searched and moved through their statuses, never written by hand.

Orders come from checkout (`orders.actions.place_order`); staff only move them on, through
`orders.actions.change_status` (a button per allowed next status on the order's page, and
actions on the list). A refused move is a message, never an error page.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from orders.actions import StatusRefused, change_status
from orders.admin.menus import TenantInline, only_related
from orders.models import NEXT_STATUSES, AbandonedCart, Order, OrderLine, OrderStatus
from voiceapp.tenancy import TenantModelAdmin

STEP_TIMES = ["created_at", "started_at", "ready_at", "picked_up_at", "cancelled_at"]

BUTTON_LABELS = {
    OrderStatus.IN_PROGRESS: "Start",
    OrderStatus.READY: "Mark ready",
    OrderStatus.PICKED_UP: "Mark picked up",
    OrderStatus.CANCELLED: "Cancel order",
}


class ReadOnlyAdmin(TenantModelAdmin):
    """Records of what happened: read and searched, never added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class OrderLineInline(TenantInline):
    model = OrderLine
    fields = ["position", "name", "quantity", "chosen_options", "unit_price", "line_total"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Options")
    def chosen_options(self, line: OrderLine) -> str:
        return ", ".join(f"{o['group']}: {o['choice']}" for o in line.options) or "—"


def call_link(obj) -> str:
    if obj.call_id is None:
        return "—"
    url = reverse("admin:calls_call_change", args=[obj.call_id])
    return format_html('<a href="{}">Call #{}</a>', url, obj.call_id)


def _move(admin_: admin.ModelAdmin, request: HttpRequest, queryset, status: str) -> None:
    moved, refused = 0, []
    for order_id in queryset.values_list("pk", flat=True):
        try:
            change_status(order_id, status, by=request.user.get_username())
            moved += 1
        except StatusRefused as refusal:
            refused.append(str(refusal))
    if moved:
        label = OrderStatus(status).label.lower()
        admin_.message_user(request, f"{moved} order(s) now {label}.", messages.SUCCESS)
    for reason in refused:
        admin_.message_user(request, reason, messages.WARNING)


def _status_action(status: str):
    def move(admin_, request, queryset):
        _move(admin_, request, queryset, status)

    move.__name__ = f"mark_{status}"
    return admin.action(description=f"Move the selected to “{OrderStatus(status).label}”")(move)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["number", "business_date", "status", "phone", "total", "menu", "created_at"]
    list_filter = ["status", "business_date", ("menu", only_related)]
    list_select_related = ["menu"]
    search_fields = ["number", "phone"]
    inlines = [OrderLineInline]
    actions = [_status_action(s) for s in BUTTON_LABELS]
    fieldsets = [
        (None, {"fields": ["number", "business_date", "menu", "phone", "total", "the_call"]}),
        ("Status", {"fields": ["status", "status_buttons", *STEP_TIMES]}),
    ]
    readonly_fields = [
        "number",
        "business_date",
        "menu",
        "phone",
        "total",
        "the_call",
        "status",
        "status_buttons",
        *STEP_TIMES,
    ]

    @admin.display(description="Call")
    def the_call(self, obj: Order) -> str:
        return call_link(obj)

    @admin.display(description="Move to")
    def status_buttons(self, obj: Order) -> str:
        # Submit buttons of the page's own form (its CSRF token), posted to the status view.
        url = reverse("admin:orders_order_status", args=[obj.pk])
        allowed = [s for s in BUTTON_LABELS if s in NEXT_STATUSES[obj.status]]
        if not allowed:
            return "— (this order is done)"
        return format_html_join(
            " ",
            '<button type="submit" class="button" name="status" value="{}" formaction="{}" '
            'formmethod="post">{}</button>',
            ((status, url, BUTTON_LABELS[status]) for status in allowed),
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.status_view)
        return [
            path("<path:object_id>/status/", view, name="orders_order_status"),
            *super().get_urls(),
        ]

    def status_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        order = self.get_object(request, unquote(object_id))
        if order is None or not self.has_view_permission(request, order):
            raise Http404("No such order.")
        status = request.POST.get("status", "")
        if status not in OrderStatus.values:
            self.message_user(request, f"Unknown status “{status}”.", messages.ERROR)
        else:
            _move(self, request, Order.objects.filter(pk=order.pk), status)
        return redirect("admin:orders_order_change", order.pk)


@admin.register(AbandonedCart)
class AbandonedCartAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "menu", "the_call", "total", "outcome"]
    list_filter = [("menu", only_related), "outcome"]
    list_select_related = ["menu"]
    search_fields = ["call__from_number", "outcome"]
    fields = ["menu", "the_call", "cart_lines", "staged_item", "total", "outcome", "created_at"]
    readonly_fields = fields

    @admin.display(description="Call")
    def the_call(self, obj: AbandonedCart) -> str:
        return call_link(obj)

    @admin.display(description="Cart")
    def cart_lines(self, obj: AbandonedCart) -> str:
        if not obj.lines:
            return "—"
        return format_html_join("", "<div>{}</div>", ((_describe(line),) for line in obj.lines))

    @admin.display(description="Not yet confirmed")
    def staged_item(self, obj: AbandonedCart) -> str:
        return _describe(obj.staged) if obj.staged else "—"


def _describe(line) -> str:
    """A cart line as written by the cart (a dict with a name, a quantity and options), or its
    JSON when it has another shape."""
    if isinstance(line, dict) and "name" in line:
        options = ", ".join(
            str(o.get("choice", o)) if isinstance(o, dict) else str(o)
            for o in line.get("options", [])
        )
        text = f"{line.get('quantity', 1)} x {line['name']}"
        return f"{text} ({options})" if options else text
    return json.dumps(line)
