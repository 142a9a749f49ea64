from __future__ import annotations

from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "conveyor.automation"
    label = "automation"
