from django.urls import path

from telephony import views

app_name = "telephony"
urlpatterns = [
    path("twilio/voice/", views.voice, name="voice"),
    path("twilio/status/", views.status, name="status"),
    path("twilio/outbound/<int:call_id>/", views.outbound_answered, name="outbound"),
    path("twilio/amd/", views.amd, name="amd"),
    path("twilio/sms/", views.sms, name="sms"),
    path("twilio/sms-status/", views.sms_status, name="sms_status"),
]
