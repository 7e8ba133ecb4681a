"""/metrics in Prometheus' text format, for a scraper with the token or from an allowed network."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from monitoring import multiprocess
from monitoring.queues import QueueCollector
from voiceapp.login_limits import client_address


def allowed(request: HttpRequest) -> bool:
    """The request carries METRICS_TOKEN as a bearer token, or comes from a METRICS_ALLOW
    network (the client address read as the login limits read it, behind trusted proxies)."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        if hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode()):
            return True
    if settings.METRICS_ALLOW:
        try:
            address = ipaddress.ip_address(client_address(request))
        except ValueError:
            return False
        return any(address in network for network in settings.METRICS_ALLOW)
    return False


def metrics(request: HttpRequest) -> HttpResponse:
    # Not configured: not served at all, so a deployment never exposes it by accident.
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOW:
        raise Http404
    if not allowed(request):
        return HttpResponseForbidden("Forbidden\n", content_type="text/plain")
    queues = CollectorRegistry()
    queues.register(QueueCollector())
    body = generate_latest(multiprocess.registry() or REGISTRY) + generate_latest(queues)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
