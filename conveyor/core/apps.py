from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "conveyor.core"
    label = "core"

    def ready(self) -> None:
        from conveyor.core import lookups

        lookups.register()
