from django.urls import path

from webcalls import views

app_name = "webcalls"

urlpatterns = [
    path("agents/<int:agent_id>/", views.test_call, name="test_call"),
]
