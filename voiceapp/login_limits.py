"""Limits on guessing: failed logins (django-axes) and wrong API tokens (a DRF throttle).

Both count per client address, read the same way (`client_address`), and both refuse for
LOGIN_COOLOFF_SECONDS after LOGIN_FAILURE_LIMIT failures; axes also per username.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with TRUSTED_PROXY_COUNT proxies in front, the entry
    they appended to X-Forwarded-For (what DRF's throttles use too, through NUM_PROXIES)."""
    return BaseThrottle().get_ident(request)


class LoginLimitBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for logins over the network only: a login without a request
    (a management command, a shell) has no address to lock and is not a guess over the wire."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


class FailedTokenThrottle(SimpleRateThrottle):
    """Counts wrong tokens per address; refuses the address when the count in the last
    LOGIN_COOLOFF_SECONDS reaches LOGIN_FAILURE_LIMIT."""

    scope = "failed_token"

    def __init__(self) -> None:  # the rate comes from the login settings, not a DRF rate string
        self.num_requests = settings.LOGIN_FAILURE_LIMIT
        self.duration = settings.LOGIN_COOLOFF_SECONDS

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def refuses(self, request) -> bool:
        """Is this address over the limit? (Reads the count; records nothing.)"""
        self.key = self.get_cache_key(request, None)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        return len(self.history) >= self.num_requests

    def record_failure(self) -> None:
        """Count one more wrong token (after `refuses`)."""
        self.throttle_success()


class LimitedTokenAuthentication(TokenAuthentication):
    """Token authentication that refuses (429) an address that sent too many wrong tokens, the
    right one included until the cool-off: a guesser learns nothing from further tries.

    DRF's throttles run only after authentication succeeds, so a wrong token (a 401) would
    never reach them: the count is kept here.
    """

    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token "):
            return None  # no token: not this class's business (and nothing guessed)
        throttle = FailedTokenThrottle()
        if throttle.refuses(request):
            raise Throttled(
                wait=throttle.wait(),
                detail="Too many wrong API tokens from your address.",
            )
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            throttle.record_failure()
            raise
