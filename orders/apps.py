from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orders import (  # noqa: F401
            board_events,  # the live boards' signal receivers
            call_hooks,  # the menu at call start, the abandoned cart at call end
            notifications,  # texts and webhooks on each change
            tools,  # the cart as the agent's tools
        )
