from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class TelephonyConfig(AppConfig):
    name = "telephony"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from telephony.models import TwilioAccount
        from telephony.signatures import forget_cached_tokens
        from voiceapp.models import Tenant

        # Webhooks and stream handshakes read accounts from a short-lived cache: a change
        # saved in this process is seen at once (other processes: within the cache's 30 s,
        # a rotated token at once, see webhook_account).
        for model in (TwilioAccount, Tenant):
            post_save.connect(forget_cached_tokens, sender=model, dispatch_uid=f"tokens-{model}")
            post_delete.connect(forget_cached_tokens, sender=model, dispatch_uid=f"del-{model}")
