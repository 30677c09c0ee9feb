"""The Django app of the integration."""

from django.apps import AppConfig


class PostGripConfig(AppConfig):  # type: ignore[misc]
    name = "postgrip_agent.contrib.django"
    label = "postgrip_agent"
    verbose_name = "PostGrip Agent"
