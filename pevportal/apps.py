from django.apps import AppConfig


class PevPortalConfig(AppConfig):
    name = "pevportal"
    verbose_name = "PEV Portal core"
