from __future__ import annotations

from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "conveyor.automation"
    label = "automation"

    def ready(self) -> None:
        from conveyor.automation import receivers  # noqa: F401  (connects the receivers)
