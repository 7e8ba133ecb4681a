from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the ordering tools and the call hooks.
        from orders import call_hooks, tools  # noqa: F401
