"""webhook_endpoint_save and webhook_secret_rotate: endpoints set up by owners and heads, the
address through the SSRF guard, the secret made here and never written to the log."""

from __future__ import annotations

import pytest
from pytest_django import Settings

from conftest import Cast
from conveyor.automation.models import WebhookEndpoint
from conveyor.automation.services import webhook_endpoint_save, webhook_secret_rotate
from conveyor.automation.webhooks import UnsafeTarget, signature_header
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.testing.audit import log_of

pytestmark = pytest.mark.django_db

PUBLIC_IP = "93.184.215.14"  # checked without DNS, never called


@pytest.fixture(autouse=True)
def _no_allowed_networks(settings: Settings) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = []


def _save(by: object, endpoint_id: int | None = None, **changes: object) -> WebhookEndpoint:
    values: dict[str, object] = {
        "name": "Billing",
        "url": f"https://{PUBLIC_IP}/hook",
        "events": ["deal_won"],
        "is_active": True,
    }
    values.update(changes)
    return webhook_endpoint_save(by=by, endpoint_id=endpoint_id, **values)  # type: ignore[arg-type]


def test_a_manager_may_not_save_or_rotate(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        _save(cast.manager)
    endpoint = _save(cast.owner)
    secret = endpoint.secret
    with pytest.raises(PermissionDenied):
        webhook_secret_rotate(by=cast.manager, endpoint_id=endpoint.pk)
    endpoint.refresh_from_db()
    assert endpoint.secret == secret
    assert [entry.action for entry in log_of(endpoint)] == [AuditAction.CREATE]


def test_a_new_endpoint_gets_a_random_secret_that_the_log_never_holds(cast: Cast) -> None:
    one, two = _save(cast.head), _save(cast.head, name="Other")
    assert len(one.secret) >= 40 and one.secret != two.secret
    [entry] = log_of(one)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)
    assert one.secret not in str(AuditEntry.objects.values_list("changes", flat=True))


def test_a_loopback_address_is_refused_before_anything_is_written(cast: Cast) -> None:
    with pytest.raises(UnsafeTarget) as error:
        _save(cast.owner, url="http://127.0.0.1:9000/")
    assert error.value.field == "url"
    assert not WebhookEndpoint.objects.exists()
    assert not AuditEntry.objects.exists()


def test_the_operator_may_allow_a_private_network(cast: Cast, settings: Settings) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert _save(cast.owner, url="http://10.0.0.5/hook").url == "http://10.0.0.5/hook"


def test_unknown_events_are_refused_on_the_events(cast: Cast) -> None:
    with pytest.raises(ServiceError) as error:
        _save(cast.owner, events=["deal_won", "deal_exploded"])
    assert error.value.field == "events"


def test_a_time_based_trigger_is_refused_and_says_how_it_reaches_a_webhook(cast: Cast) -> None:
    # Nothing tells subscribers about them: only a rule's "call a webhook" action sends them.
    for event in ("no_touch", "task_overdue", "deal_rotting"):
        with pytest.raises(ServiceError) as error:
            _save(cast.owner, events=["deal_won", event])
        assert error.value.field == "events"
        assert "Call an outgoing webhook" in error.value.message
    assert not WebhookEndpoint.objects.exists()


def test_a_change_keeps_the_secret(cast: Cast) -> None:
    endpoint = _save(cast.owner)
    secret = endpoint.secret
    _save(cast.head, endpoint.pk, name="Billing v2", events=[])
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.events, endpoint.secret) == ("Billing v2", [], secret)
    assert log_of(endpoint)[-1].changes == {
        "name": ["Billing", "Billing v2"],
        "events": [["deal_won"], []],
    }


def test_rotating_signs_with_a_new_secret_and_logs_that_it_changed(cast: Cast) -> None:
    endpoint = _save(cast.owner)
    old = endpoint.secret
    rotated = webhook_secret_rotate(by=cast.head, endpoint_id=endpoint.pk)
    endpoint.refresh_from_db()
    assert endpoint.secret == rotated.secret != old
    body = b"{}"
    assert signature_header(secret=rotated.secret, timestamp=1, body=body) != signature_header(
        secret=old, timestamp=1, body=body
    )
    entry = log_of(endpoint)[-1]
    assert (entry.action, entry.actor_id, entry.changes) == (
        AuditAction.UPDATE,
        cast.head.pk,
        {"secret": None},
    )


def test_rotating_an_endpoint_that_is_gone_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError):
        webhook_secret_rotate(by=cast.owner, endpoint_id=404)
