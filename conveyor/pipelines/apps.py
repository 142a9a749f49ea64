from __future__ import annotations

from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "conveyor.pipelines"
    label = "pipelines"

    def ready(self) -> None:
        from conveyor.pipelines import receivers  # noqa: F401  (connects the receivers)
