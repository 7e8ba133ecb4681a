"""The test call's page: a shell; the call itself runs over the socket (webcalls.consumers)
and the page's scripts are static files (the CSP allows no other)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from webcalls.access import agent_for_staff


@require_GET
@login_required(login_url="admin:login")
def test_call(request: HttpRequest, agent_id: int) -> HttpResponse:
    """Talk to an agent from the browser (staff of its tenant; 404 for anyone else)."""
    agent = agent_for_staff(request.user, agent_id)
    if agent is None:
        raise Http404("No such agent.")
    return render(request, "webcalls/test_call.html", {"agent": agent})
