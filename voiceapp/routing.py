from django.urls import path

from telephony.consumers import MediaStreamConsumer

websocket_urlpatterns = [
    path("telephony/twilio/media/", MediaStreamConsumer.as_asgi()),
]
