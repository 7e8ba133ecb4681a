"""JSON Web Tokens for the API (djangorestframework-simplejwt), under the login limits.

`POST /api/token/` with a username and password returns an access token (ACCESS lifetime
JWT_ACCESS_SECONDS) and a refresh token (JWT_REFRESH_SECONDS); `POST /api/token/refresh/` turns
a refresh token into a new access token. Clients send `Authorization: Bearer <access>`.

A password guessed through the token endpoint is a login like the admin's: simplejwt calls
`authenticate()` with the request, so django-axes counts a wrong password and refuses a locked
user-and-address pair (even with the right password). The refusal is answered as the admin's
login form answers it: 429, with the cool-off in the message.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView


class LimitedTokenObtainPairView(TokenObtainPairView):
    """simplejwt's obtain view, whose failed and locked-out logins django-axes sees."""

    def post(self, request: Request, *args, **kwargs) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            # axes marks the request it was given (this DRF request) when it refuses the login
            # or when this failure reached the limit; its middleware looks at the inner one.
            if getattr(request, "axes_locked_out", False):
                raise Throttled(
                    wait=settings.LOGIN_COOLOFF_SECONDS, detail=settings.AXES_COOLOFF_MESSAGE
                ) from None
            raise
