from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from calls import admission, builtin_tools  # noqa: F401  (registers the core tools)
        from calls.signals import call_ended

        # A call's line is free once it ends, however it ended (calls.admission).
        call_ended.connect(admission.on_call_ended, dispatch_uid="calls.admission.call_ended")
