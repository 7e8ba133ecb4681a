from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from campaigns import (  # noqa: F401
            attempts,  # attempt results and retries from call_ended
            dialer,  # the campaign's dial check (ring time, machine detection)
            do_not_call,  # the do-not-call dial check and the in-call tool
            machine,  # the answering-machine policy
            morning,  # the morning call: retries kept to the morning
            receivers,  # outcomes and texts after a call
            tools,  # the campaign call's tools
        )
