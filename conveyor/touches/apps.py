from __future__ import annotations

from django.apps import AppConfig


class TouchesConfig(AppConfig):
    name = "conveyor.touches"
    label = "touches"

    def ready(self) -> None:
        from conveyor.touches import receivers  # noqa: F401  (connects the receivers)
