from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/board/", views.board, name="board"),
    path("<slug:slug>/console/", views.console, name="console"),
    path(
        "<slug:slug>/console/orders/<int:order_id>/status/",
        views.set_status,
        name="set_status",
    ),
]
