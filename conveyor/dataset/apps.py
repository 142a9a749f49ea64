from __future__ import annotations

from django.apps import AppConfig


class DatasetConfig(AppConfig):
    name = "conveyor.dataset"
    label = "dataset"
