from __future__ import annotations

from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "conveyor.intake"
    label = "intake"

    def ready(self) -> None:
        from conveyor.intake import receivers  # noqa: F401  (connects the receivers)
