"""URLs of the web UI."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from conveyor.web.views import board, deals, intake, lead_forms, public_forms, reports

app_name = "web"
urlpatterns = [
    path("", board.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="web/registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("board/", board.board_view, name="board"),
    path("board/<int:pipeline_id>/", board.board_view, name="board-pipeline"),
    path("deals/<int:pk>/", deals.deal_detail, name="deal"),
    path("deals/<int:pk>/<slug:action>/", deals.deal_action, name="deal-action"),
    path("inbox/", intake.inbox_view, name="inbox"),
    path("inbox/bulk/", intake.leads_bulk, name="inbox-bulk"),
    path("inbox/<int:pk>/<slug:action>/", intake.lead_action, name="lead-action"),
    path("leads/new/", intake.lead_new, name="lead-new"),
    path("reports/funnel/", reports.funnel_view, name="funnel"),
    path("settings/forms/", lead_forms.form_list, name="lead-forms"),
    path("settings/forms/<int:pk>/", lead_forms.form_detail, name="lead-form"),
    # Public, no login: the address web forms on other sites post to (no trailing slash, so a
    # POST is never redirected).
    path("f/<str:key>", public_forms.public_form, name="public-form"),
]
