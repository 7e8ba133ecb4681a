from django.urls import path

from telephony import views

app_name = "telephony"
urlpatterns = [
    path("twilio/voice/", views.voice, name="voice"),
    path("twilio/status/", views.status, name="status"),
]
