from __future__ import annotations

from django.apps import AppConfig


class TouchesConfig(AppConfig):
    name = "conveyor.touches"
    label = "touches"
