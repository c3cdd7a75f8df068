from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from events.bus import ALL, subscribe

        from .services import deliveries_create

        subscribe(ALL, deliveries_create)
