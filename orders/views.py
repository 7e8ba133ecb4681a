"""The live boards' pages and the console's one write: moving an order to its next status.

Each view resolves the tenant from the URL for the logged-in staff (404 for anyone else, so a
slug tells an outsider nothing) and then does one thing. The pages are shells; their state comes
over the socket (orders.boards) and their scripts are static files (the CSP allows no other).
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from orders.actions import StatusRefused, change_status
from orders.boards import order_for_board, staff_tenant
from orders.models import Order, OrderStatus
from voiceapp.models import Tenant
from voiceapp.tenancy import tenant_ids

LOGIN_URL = "admin:login"


def _tenant(request: HttpRequest, slug: str) -> Tenant:
    tenant = staff_tenant(request.user, slug)
    if tenant is None:
        raise Http404("No such shop.")
    return tenant


@require_GET
@login_required(login_url=LOGIN_URL)
def index(request: HttpRequest) -> HttpResponse:
    """Links to the boards of every shop the user works for."""
    ids = tenant_ids(request.user)
    tenants = Tenant.objects.filter(active=True)
    if ids is not None:
        tenants = tenants.filter(pk__in=ids)
    return render(request, "orders/index.html", {"tenants": tenants})


@require_GET
@login_required(login_url=LOGIN_URL)
def board(request: HttpRequest, slug: str) -> HttpResponse:
    """The shop screen: order numbers by status, in large type."""
    return render(request, "orders/board.html", {"tenant": _tenant(request, slug)})


@require_GET
@login_required(login_url=LOGIN_URL)
def console(request: HttpRequest, slug: str) -> HttpResponse:
    """The staff console: every open order in full, with the buttons its status allows."""
    return render(request, "orders/console.html", {"tenant": _tenant(request, slug)})


@require_POST
def set_status(request: HttpRequest, slug: str, order_id: int) -> JsonResponse:
    """Move one of the tenant's orders to the status in the JSON body ({"status": "ready"}).
    Answers the order as it now is, or {"error": ...}: 400 for a status that does not exist,
    409 for a move its current status does not allow (a stale screen, a double click)."""
    if not request.user.is_authenticated:
        # A script, not a person, is asking: no redirect to a login page it cannot follow.
        return JsonResponse({"error": "Your session has ended: reload and log in."}, status=403)
    tenant = _tenant(request, slug)
    if not Order.objects.filter(tenant=tenant, pk=order_id).exists():
        raise Http404("No such order.")
    try:
        status = json.loads(request.body or b"{}").get("status")
    except (ValueError, AttributeError):
        status = None
    if status not in OrderStatus.values:
        choices = ", ".join(OrderStatus.values)
        return JsonResponse({"error": f"Unknown status; use one of: {choices}."}, status=400)
    try:
        change_status(order_id, status, by=request.user.get_username())
    except StatusRefused as refused:
        return JsonResponse(
            {"error": str(refused), "order": order_for_board(tenant, order_id)}, status=409
        )
    return JsonResponse({"order": order_for_board(tenant, order_id)})
