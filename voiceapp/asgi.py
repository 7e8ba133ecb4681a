"""ASGI entry point: HTTP through Django, each request in one hop to its thread
(voiceapp.http_app); the WebSockets (media stream, live order boards) through Channels."""

import os

from voiceapp.http_app import http_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
# Django must be set up (get_wsgi_application does) before any consumer, and so any model, is
# imported.
django_http_app = http_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from voiceapp.routing import websocket_urlpatterns  # noqa: E402

if settings.PRELOAD_SPEECH_MODELS or settings.PREPARE_GREETINGS:
    from calls.warmup import warm_up_in_background

    warm_up_in_background()  # and then freezes the long-lived heap (voiceapp.heap)
else:
    from voiceapp.heap import settle

    settle()

if not settings.REDIS_URL:
    # No Redis, so no rq cron process: the web process keeps the schedule (the call reaper).
    from voiceapp.jobs import start_schedule_in_process

    start_schedule_in_process()

application = ProtocolTypeRouter(
    {
        # Daphne serves the admin's static files itself only in DEBUG (the demo).
        "http": ASGIStaticFilesHandler(django_http_app) if settings.DEBUG else django_http_app,
        # Each route brings its own checks (voiceapp.routing): none for the media stream (Twilio
        # is a server and sends no Origin; the stream authenticates with its signature and
        # token), the session and the Origin for the order boards.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
