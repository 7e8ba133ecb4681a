from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
<<<<<<< HEAD
        from campaigns import do_not_call  # noqa: F401 (the dial check and the in-call tool)
=======
        from campaigns import receivers, tools  # noqa: F401  (outcomes, texts; in-call tools)
>>>>>>> main
