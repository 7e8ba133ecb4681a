from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from calls.signals import call_ended
        from monitoring import metrics, multiprocess

        multiprocess.process_started()
        call_ended.connect(metrics.on_call_ended, dispatch_uid="monitoring.call_ended")
