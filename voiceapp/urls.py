from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from voiceapp import health
from voiceapp.api import ApiDocsView

admin.site.site_header = "Voice agents"
admin.site.site_title = "Voice agents"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/analytics/", include("analytics.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("monitoring.urls")),
    path("telephony/", include("telephony.urls")),
    path("orders/", include("orders.urls")),
    path("webcalls/", include("webcalls.urls")),
    path("api/", include("voiceapp.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
]
if settings.REDIS_URL:
    urlpatterns.append(path("django-rq/", include("django_rq.urls")))
# No URL serves MEDIA_ROOT, in DEBUG or not: recordings are a tenant's private audio, served only
# by calls.recordings through the admin and the API, after a tenant check.
