from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orders import (
            board_events,  # noqa: F401  (the live boards' signal receivers)
            notifications,  # noqa: F401 (connects the texts and webhooks)
        )
