from django.contrib import admin
from django.urls import path

from analytics import views

# admin_view: the admin's login and its staff check, as every admin page.
app_name = "analytics"
urlpatterns = [
    path("", admin.site.admin_view(views.dashboard), name="dashboard"),
    path("<slug:table>.csv", admin.site.admin_view(views.export_csv), name="export"),
]
