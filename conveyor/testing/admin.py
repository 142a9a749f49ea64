"""Saving a record through its Django admin change form, as a superuser would."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conveyor.accounts.models import User


def admin_save(user: User, instance: Model, **changes: str) -> Any:
    """Post `instance`'s admin change form as it stands, with `changes`, as `user` made a
    superuser. A date-time field is sent as the admin's two inputs (date, time)."""
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    meta = instance._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[instance.pk])
    form = client.get(url).context["adminform"].form
    data: dict[str, Any] = {}
    for name, value in form.initial.items():
        if value is None or name not in form.fields:
            continue
        if isinstance(value, dt.datetime):
            local = timezone.localtime(value)
            data[f"{name}_0"] = local.date().isoformat()
            data[f"{name}_1"] = local.time().strftime("%H:%M:%S")
        else:
            data[name] = value
    data.update(changes)
    return client.post(url, data)
