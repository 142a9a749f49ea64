"""URLs of the web UI."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from conveyor.web.login import LoginView, login_code_view
from conveyor.web.views import (
    agenda,
    board,
    crm_import,
    deals,
    intake,
    lead_forms,
    lists,
    people,
    privacy,
    public_forms,
    reports,
    tokens,
    two_factor,
)
from conveyor.web.views.settings.urls import urlpatterns as settings_urls

app_name = "web"
urlpatterns = [
    path("", board.home, name="home"),
    path("login/", LoginView.as_view(), name="login"),
    path("login/code/", login_code_view, name="login-code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", tokens.token_list, name="tokens"),
    path("account/tokens/<int:pk>/revoke/", tokens.token_revoke_view, name="token-revoke"),
    path("account/two-factor/", two_factor.totp_page, name="totp"),
    path("account/two-factor/off/", two_factor.totp_off, name="totp-off"),
    path("board/", board.board_view, name="board"),
    path("board/<int:pipeline_id>/", board.board_view, name="board-pipeline"),
    path(
        "board/<int:pipeline_id>/stages/<int:stage_id>/cards/",
        board.board_cards_view,
        name="board-cards",
    ),
    path("board/deals/<int:pk>/<slug:action>/", board.board_deal_action, name="board-deal-action"),
    path("agenda/", agenda.agenda_view, name="agenda"),
    path("agenda/calendar-key/", agenda.calendar_key_view, name="agenda-calendar-key"),
    path("agenda/<int:pk>/<slug:action>/", agenda.agenda_action, name="agenda-action"),
    path("deals/attention/", board.attention_view, name="attention"),
    path("deals/<int:pk>/", deals.deal_detail, name="deal"),
    path("deals/<int:pk>/<slug:action>/", deals.deal_action, name="deal-action"),
    path("inbox/", intake.inbox_view, name="inbox"),
    path("inbox/bulk/", intake.leads_bulk, name="inbox-bulk"),
    path("inbox/<int:pk>/", intake.lead_page, name="lead"),
    path("inbox/<int:pk>/<slug:action>/", intake.lead_action, name="lead-action"),
    path("leads/new/", intake.lead_new, name="lead-new"),
    path("dashboard/", reports.dashboard_view, name="dashboard"),
    path("reports/", reports.reports_index, name="reports"),
    path("reports/funnel/", reports.report_view, {"name": "funnel"}, name="funnel"),
    path("reports/<slug:name>/", reports.report_view, name="report"),
    path("settings/forms/", lead_forms.form_list, name="lead-forms"),
    path("settings/forms/<int:pk>/", lead_forms.form_detail, name="lead-form"),
    path("settings/forms/<int:pk>/edit/", lead_forms.form_edit, name="lead-form-edit"),
    *settings_urls,
    path("people/merge/", people.person_merge_view, name="person-merge"),
    path("people/", lists.people_view, name="people"),
    path("people/bulk/", lists.people_bulk, name="people-bulk"),
    path("deals/", lists.deals_view, name="deals"),
    path("deals/bulk/", lists.deals_bulk, name="deals-bulk"),
    path("companies/", lists.companies_view, name="companies"),
    path("people/<int:pk>/", people.person_page, name="person"),
    # The person page's first name, kept for the links that use it.
    path("people/<int:pk>/", people.person_page, name="person-erase"),
    path("people/<int:pk>/touch/", people.person_touch, name="person-touch"),
    path("people/<int:pk>/referral/", people.person_referral, name="person-referral"),
    path("people/<int:pk>/edit/<slug:field>/", people.person_edit, name="person-edit"),
    path("deals/<int:pk>/edit/<slug:field>/", deals.deal_edit, name="deal-edit"),
    path("people/<int:pk>/export.json", privacy.person_export_json, name="person-export-json"),
    path("people/<int:pk>/export.csv", privacy.person_export_csv, name="person-export-csv"),
    path("settings/import/", crm_import.upload, name="crm-import"),
    path("settings/import/<slug:token>/", crm_import.preview, name="crm-import-preview"),
    path("settings/import/<slug:token>/done/", crm_import.done, name="crm-import-done"),
    path("settings/import/<slug:token>/report/", crm_import.report, name="crm-import-report"),
    # Public, no login: a user's calendar feed; the secret key in the address is the credential.
    path("calendar/<str:key>.ics", agenda.calendar_feed, name="calendar-feed"),
    # Public, no login: the address web forms on other sites post to (no trailing slash, so a
    # POST is never redirected).
    path("f/<str:key>", public_forms.public_form, name="public-form"),
]
