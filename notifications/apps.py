from django.apps import AppConfig
from django.core import checks


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        checks.register(reply_templates_check)
        from . import reactions

        reactions.connect()


def reply_templates_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from .messages import reply_template_problems

    return [checks.Error(problem, id="notifications.E001") for problem in reply_template_problems()]
