from django.apps import AppConfig


class WebcallsConfig(AppConfig):
    name = "webcalls"
    verbose_name = "Test calls from the browser"
