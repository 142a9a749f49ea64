"""The background jobs of automation. Each is thin: it takes an id and calls one service."""

from __future__ import annotations

from django_tasks import task


@task()
def automation_run_job(run_id: int) -> str:
    from conveyor.automation.engine import run_execute

    return run_execute(run_id=run_id)


@task()
def email_send_job(email_id: int) -> str:
    from conveyor.automation.mail import email_send

    return email_send(email_id=email_id).status


@task()
def webhook_deliver_job(delivery_id: int) -> str:
    from conveyor.automation.webhooks import webhook_deliver

    return webhook_deliver(delivery_id=delivery_id).status


@task()
def periodic_checks_job() -> str:
    from conveyor.automation.engine import periodic_checks

    return periodic_checks()
