from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from orders.boards import BoardConsumer
from telephony.consumers import MediaStreamConsumer
from webcalls.consumers import TestCallConsumer

websocket_urlpatterns = [
    # No origin check and no session: Twilio is a server; the stream carries its own signature
    # and token (telephony.consumers).
    path("telephony/twilio/media/", MediaStreamConsumer.as_asgi()),
    # Staff screens in a browser: the session's user, and only from this site's own pages (a
    # foreign page cannot open a socket with the staff's cookie).
    path(
        "ws/orders/<slug:slug>/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(BoardConsumer.as_asgi())),
    ),
    # A staff member's test call from the browser: the same checks as the boards.
    path(
        "ws/webcalls/agents/<int:agent_id>/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(TestCallConsumer.as_asgi())),
    ),
]
