from django.apps import AppConfig


class BindingConfig(AppConfig):
    name = "binding"
    verbose_name = "Device binding"
