from django.apps import AppConfig


class VoiceappConfig(AppConfig):
    name = "voiceapp"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Tenancy"
