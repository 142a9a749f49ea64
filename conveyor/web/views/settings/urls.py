"""The settings screens' addresses, added to `conveyor.web.urls` (names `web:settings-…`).
Each section has its list, `new/` and a record's page (`<id>/`)."""

from __future__ import annotations

from django.urls import path

from conveyor.web.views.settings import (
    automation,
    holidays,
    intake,
    messaging,
    process,
    settings_index,
    team,
)

urlpatterns = [
    path("settings/", settings_index, name="settings"),
    path("settings/segments/", process.segment_list, name="settings-segments"),
    path("settings/segments/new/", process.segment_edit, name="settings-segment-new"),
    path("settings/segments/<int:pk>/", process.segment_edit, name="settings-segment"),
    path("settings/pipelines/", process.pipeline_list, name="settings-pipelines"),
    path("settings/pipelines/new/", process.pipeline_edit, name="settings-pipeline-new"),
    path("settings/pipelines/<int:pk>/", process.pipeline_edit, name="settings-pipeline"),
    path("settings/pipelines/<int:pk>/order/", process.stage_order, name="settings-stage-order"),
    path(
        "settings/pipelines/<int:pipeline_pk>/stages/new/",
        process.stage_edit,
        name="settings-stage-new",
    ),
    path("settings/stages/<int:pk>/", process.stage_edit, name="settings-stage"),
    path("settings/loss-reasons/", process.loss_reason_list, name="settings-loss-reasons"),
    path("settings/loss-reasons/new/", process.loss_reason_edit, name="settings-loss-reason-new"),
    path("settings/loss-reasons/<int:pk>/", process.loss_reason_edit, name="settings-loss-reason"),
    path("settings/questions/", intake.question_list, name="settings-questions"),
    path("settings/questions/new/", intake.question_edit, name="settings-question-new"),
    path("settings/questions/<int:pk>/", intake.question_edit, name="settings-question"),
    path("settings/routing/", intake.routing_list, name="settings-routing"),
    path("settings/routing/new/", intake.routing_edit, name="settings-routing-rule-new"),
    path("settings/routing/<int:pk>/", intake.routing_edit, name="settings-routing-rule"),
    path("settings/cadences/", automation.cadence_list, name="settings-cadences"),
    path("settings/cadences/new/", automation.cadence_edit, name="settings-cadence-new"),
    path("settings/cadences/<int:pk>/", automation.cadence_edit, name="settings-cadence"),
    path(
        "settings/cadences/<int:cadence_pk>/steps/new/",
        automation.cadence_step_edit,
        name="settings-step-new",
    ),
    path("settings/steps/<int:pk>/", automation.cadence_step_edit, name="settings-step"),
    path(
        "settings/steps/<int:pk>/remove/",
        automation.cadence_step_remove,
        name="settings-step-remove",
    ),
    path("settings/rules/", automation.rule_list, name="settings-rules"),
    path("settings/rules/new/", automation.rule_edit, name="settings-rule-new"),
    path("settings/rules/<int:pk>/", automation.rule_edit, name="settings-rule"),
    path(
        "settings/email-templates/",
        messaging.email_template_list,
        name="settings-email-templates",
    ),
    path(
        "settings/email-templates/new/",
        messaging.email_template_edit,
        name="settings-email-template-new",
    ),
    path(
        "settings/email-templates/<int:pk>/",
        messaging.email_template_edit,
        name="settings-email-template",
    ),
    path("settings/webhooks/", messaging.webhook_list, name="settings-webhooks"),
    path("settings/webhooks/new/", messaging.webhook_edit, name="settings-webhook-new"),
    path("settings/webhooks/<int:pk>/", messaging.webhook_edit, name="settings-webhook"),
    path(
        "settings/webhooks/<int:pk>/secret/",
        messaging.webhook_rotate,
        name="settings-webhook-rotate",
    ),
    path("settings/users/", team.user_list, name="settings-users"),
    path("settings/users/new/", team.user_edit, name="settings-user-new"),
    path("settings/users/<int:pk>/", team.user_edit, name="settings-user"),
    path("settings/teams/", team.team_list, name="settings-teams"),
    path("settings/teams/new/", team.team_edit, name="settings-team-new"),
    path("settings/teams/<int:pk>/", team.team_edit, name="settings-team"),
    path("settings/plans/", team.plan_list, name="settings-plans"),
    path("settings/plans/new/", team.plan_edit, name="settings-plan-new"),
    path("settings/plans/<int:pk>/", team.plan_edit, name="settings-plan"),
    path("settings/expenses/", team.expense_list, name="settings-expenses"),
    path("settings/expenses/new/", team.expense_edit, name="settings-expense-new"),
    path("settings/expenses/<int:pk>/", team.expense_edit, name="settings-expense"),
    path("settings/holidays/", holidays.holiday_list, name="settings-holidays"),
    path("settings/holidays/new/", holidays.holiday_edit, name="settings-holiday-new"),
    path("settings/holidays/<int:pk>/", holidays.holiday_edit, name="settings-holiday"),
    path(
        "settings/holidays/<int:pk>/delete/",
        holidays.holiday_remove,
        name="settings-holiday-delete",
    ),
]
