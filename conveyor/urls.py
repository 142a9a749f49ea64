"""Root URL map: the web UI, the API, the admin and the language switch."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from conveyor.api.v1 import api
from conveyor.web.language import language_switch
from conveyor.web.login import admin_login

urlpatterns = [
    # Before the admin's own: its login form would take the password alone, without the TOTP step.
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Before Django's own: the switch is also saved on the user's account.
    path("i18n/setlang/", language_switch, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("conveyor.web.urls")),
]
