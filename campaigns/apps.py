from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from campaigns import (  # noqa: F401
            do_not_call,  # the dial check and the in-call tool
            receivers,  # outcomes and texts after a call
            tools,  # the campaign call's tools
        )
