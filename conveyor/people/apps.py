from __future__ import annotations

from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "conveyor.people"
    label = "people"
