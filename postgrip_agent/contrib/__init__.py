"""Integrations with web frameworks: ``postgrip_agent.contrib.flask`` and ``postgrip_agent.contrib.django``."""
